//! Reading one variable's value: each helper names the variable in its
//! error, so startup says which one to fix.

use super::{ConfigError, Secret, MIN_ADMIN_TOKEN_LEN};
use std::net::{IpAddr, SocketAddr};

/// Reads `ADMIN_TOKEN`: unset or blank turns the admin endpoints off; when
/// set it must be at least [`MIN_ADMIN_TOKEN_LEN`] visible ASCII characters
/// (it travels in an `Authorization` header).
pub(super) fn parse_admin_token(value: Option<String>) -> Result<Option<Secret>, ConfigError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let visible = value.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if value.len() < MIN_ADMIN_TOKEN_LEN || !visible {
        return Err(ConfigError {
            var: "ADMIN_TOKEN",
            problem: format!(
                "must be at least {MIN_ADMIN_TOKEN_LEN} visible ASCII characters, without spaces (or unset to turn the admin endpoints off)"
            ),
        });
    }
    Ok(Some(Secret::new(value)))
}

pub(super) fn parse_addr(var: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError {
        var,
        problem: format!("must be an address such as 127.0.0.1:8080, got {value:?}"),
    })
}

/// A whole number, 0 included (0 switches the limit off).
pub(super) fn parse_limit(var: &'static str, value: &str) -> Result<u32, ConfigError> {
    value.trim().parse::<u32>().map_err(|_| ConfigError {
        var,
        problem: format!("must be a whole number (0 turns it off), got {value:?}"),
    })
}

/// Comma-separated IP addresses; empty means none.
pub(super) fn parse_addresses(var: &'static str, value: &str) -> Result<Vec<IpAddr>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse().map_err(|_| ConfigError {
                var,
                problem: format!("must be comma-separated IP addresses, got {a:?}"),
            })
        })
        .collect()
}

/// A positive whole number that fits comfortably in an `i32` for SQL.
pub(super) fn parse_count(var: &'static str, value: &str) -> Result<u32, ConfigError> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=i32::MAX as u32).contains(&n) => Ok(n),
        _ => Err(ConfigError {
            var,
            problem: format!("must be a whole number of at least 1, got {value:?}"),
        }),
    }
}
