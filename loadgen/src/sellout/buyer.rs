//! One buyer of the crowd, from the pre-queue to the end of their visit:
//! waits for their turn (polling as a client that follows its estimated
//! wait does), then shops like a person on the page: picks a date and one
//! to four free seats, holds them, and pays (80 %), abandons the holds
//! (10 %), pays too late (5 %) or releases them (5 %); some of those who
//! paid cancel a seat for a refund. A buyer who finds no seat free joins a
//! date's waitlist one time in two (and pays the offer if one comes), or
//! looks again every few seconds.

use super::crowd::Crowd;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::rng::Rng;

/// Lives the visit of the buyer holding pre-queue `token` until it ends or
/// the sale does.
pub async fn live(crowd: &Crowd, token: &str, mut rng: Rng) {
    // At the opening each client polls when its pre-queue poll falls due:
    // the crowd's first polls spread over 15 seconds.
    if !crowd.pause(millis(&mut rng, 0, 15_000)).await {
        return;
    }
    if !wait_turn(crowd, token, &mut rng).await {
        return;
    }
    crowd.count("admitted");
    shop(crowd, token, &mut rng).await;
}

/// Polls the queue status until the token is active (true), expired or the
/// sale ends (false). Far back in the line the next poll comes after a
/// third of the estimated wait (2 to 30 seconds; the idle timeout is 60);
/// within two room capacities of the front the buyer listens to the event
/// stream instead, as the page does, so admission is seen at once.
async fn wait_turn(crowd: &Crowd, token: &str, rng: &mut Rng) -> bool {
    loop {
        let Some((200, status)) = crowd
            .call(Method::GET, "/v1/queue/status", token, None)
            .await
        else {
            if !crowd.pause(Duration::from_secs(1)).await {
                return false;
            }
            continue;
        };
        match status["status"].as_str() {
            Some("active") => return true,
            Some("waiting") => {}
            _ => {
                crowd.count("dropped from the line");
                return false;
            }
        }
        let near = status["position"]
            .as_u64()
            .is_some_and(|p| p <= 2 * u64::from(crowd.capacity));
        if near {
            match listen(crowd, token).await {
                Some(admitted) => return admitted,
                None => crowd.count("event stream broke: polling again"),
            }
        }
        let eta = status["estimated_wait_seconds"].as_f64().unwrap_or(2.0);
        let wait = (eta / 3.0).clamp(2.0, 30.0);
        let jitter = millis(rng, 0, 1_000);
        if !crowd.pause(Duration::from_secs_f64(wait) + jitter).await {
            return false;
        }
    }
}

/// Follows `GET /v1/queue/events` until the entry is active (true),
/// expired or the sale ends (false); `None` if the stream failed.
async fn listen(crowd: &Crowd, token: &str) -> Option<bool> {
    let mut response = crowd
        .client
        .get(format!("{}/v1/queue/events", crowd.url))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3_600))
        .send()
        .await
        .ok()?;
    if response.status().as_u16() != 200 {
        return None;
    }
    let mut stop = crowd.stopper();
    let mut buffer = String::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk.ok()??,
            _ = stop.wait_for(|s| *s) => return Some(false),
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let event: Value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
            match event["status"].as_str() {
                Some("active") => return Some(true),
                Some("expired") => {
                    crowd.count("dropped from the line");
                    return Some(false);
                }
                _ => {}
            }
        }
    }
}

/// A hold the buyer got.
struct Hold {
    id: String,
    price: i64,
}

async fn shop(crowd: &Crowd, token: &str, rng: &mut Rng) {
    let mut tries = 0;
    loop {
        let path = format!("/v1/concerts/{}/performances", crowd.concert);
        let Some((200, dates)) = crowd.call(Method::GET, &path, token, None).await else {
            return;
        };
        let dates = dates.as_array().cloned().unwrap_or_default();
        if dates.is_empty() {
            // Every seat is sold or held: half wait on a date's list, the
            // others look again now and then (held seats come back), for
            // as long as their turn lasts.
            crowd.count("found no seat free");
            if rng.below(2) == 0 {
                wait_for_offer(crowd, token, rng).await;
                return;
            }
            if !crowd.pause(millis(rng, 3_000, 6_000)).await {
                return;
            }
            continue;
        }
        let date = &dates[rng.below(dates.len() as u64) as usize];
        let Some(performance) = date["performance_id"].as_i64() else {
            return;
        };
        let holds = hold_seats(crowd, token, performance, rng).await;
        if holds.is_empty() {
            tries += 1;
            if tries == 3 {
                crowd.count("gave up after three tries");
                return;
            }
            continue;
        }
        if !crowd.pause(millis(rng, 300, 1_500)).await {
            return;
        }
        decide(crowd, token, &holds, rng).await;
        return;
    }
}

/// Holds one to four of the free seats of `performance`, one by one.
async fn hold_seats(crowd: &Crowd, token: &str, performance: i64, rng: &mut Rng) -> Vec<Hold> {
    let path = format!("/v1/performances/{performance}/seats?status=available");
    let Some((200, map)) = crowd.call(Method::GET, &path, token, None).await else {
        return Vec::new();
    };
    let mut free: Vec<i64> = map["seats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["seat_number"].as_i64())
        .collect();
    let want = 1 + rng.below(4) as usize;
    let mut holds = Vec::new();
    while holds.len() < want && !free.is_empty() {
        let seat = free.swap_remove(rng.below(free.len() as u64) as usize);
        let body = json!({"performance_id": performance, "seat_number": seat});
        let Some(outcome) = crowd.command(token, "/v1/reservations", &body).await else {
            break;
        };
        match outcome["status"].as_str() {
            Some("succeeded") => {
                crowd.count("hold");
                holds.push(Hold {
                    id: outcome["result"]["reservation_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    price: outcome["result"]["price"].as_i64().unwrap_or(0),
                });
            }
            _ => crowd.count(&rejected("reserve", &outcome)),
        }
    }
    holds
}

/// What the buyer does with their holds.
async fn decide(crowd: &Crowd, token: &str, holds: &[Hold], rng: &mut Rng) {
    match rng.below(100) {
        0..80 => {
            if let Some(paid) = pay(crowd, token, holds).await {
                if rng.below(100) < 4 && crowd.pause(millis(rng, 500, 2_000)).await {
                    let cancel = format!("/v1/reservations/{}/cancel", paid[0]);
                    if let Some(outcome) = crowd.command(token, &cancel, &json!({})).await {
                        crowd.count(&named("cancel a paid seat", &outcome));
                    }
                }
            }
        }
        80..90 => crowd.count("abandoned the holds"),
        90..95 => {
            // Back after the hold lapsed (the API's HOLD_TTL_SECONDS).
            let late = crowd.hold + millis(rng, 1_000, 3_000);
            if crowd.pause(late).await {
                crowd.count("paid too late");
                pay(crowd, token, holds).await;
            }
        }
        _ => {
            for hold in holds {
                let cancel = format!("/v1/reservations/{}/cancel", hold.id);
                if let Some(outcome) = crowd.command(token, &cancel, &json!({})).await {
                    crowd.count(&named("release a hold", &outcome));
                }
            }
        }
    }
}

/// Charges the total and pays `holds` in one checkout; the paid
/// reservation ids if it succeeded.
async fn pay(crowd: &Crowd, token: &str, holds: &[Hold]) -> Option<Vec<String>> {
    let total: i64 = holds.iter().map(|h| h.price).sum();
    let charge = json!({ "amount": total.clamp(1, 10_000_000) });
    crowd
        .call(Method::POST, "/v1/balance/charges", token, Some(&charge))
        .await?;
    let ids: Vec<&str> = holds.iter().map(|h| h.id.as_str()).collect();
    let outcome = crowd
        .command(token, "/v1/payments", &json!({ "reservation_ids": ids }))
        .await?;
    crowd.count(&named("checkout", &outcome));
    if outcome["status"] == "succeeded" {
        crowd.count(&format!("seats in a checkout: {}", holds.len()));
        Some(ids.into_iter().map(str::to_owned).collect())
    } else {
        None
    }
}

/// Joins the waitlist of a sold-out date and waits for an offer, then pays
/// it (with whatever token the buyer has: it may have expired meanwhile).
async fn wait_for_offer(crowd: &Crowd, token: &str, rng: &mut Rng) {
    let path = format!(
        "/v1/concerts/{}/performances?include_sold_out=true",
        crowd.concert
    );
    let Some((200, dates)) = crowd.call(Method::GET, &path, token, None).await else {
        return;
    };
    let dates = dates.as_array().cloned().unwrap_or_default();
    if dates.is_empty() {
        return;
    }
    let date = &dates[rng.below(dates.len() as u64) as usize];
    let Some(performance) = date["performance_id"].as_i64() else {
        return;
    };
    let join = format!("/v1/performances/{performance}/waitlist");
    match crowd
        .call(Method::POST, &join, token, Some(&json!({})))
        .await
    {
        Some((201 | 200, _)) => crowd.count("joined a waitlist"),
        Some((409, _)) => {
            crowd.count("waitlist refused: seats available");
            return;
        }
        _ => return,
    }
    loop {
        if !crowd.pause(millis(rng, 1_500, 2_500)).await {
            return;
        }
        let Some((200, mine)) = crowd
            .call(Method::GET, "/v1/reservations", token, None)
            .await
        else {
            continue;
        };
        let offer = mine.as_array().into_iter().flatten().find(|r| {
            r["offer"] == true && r["status"] == "held" && r["performance_id"] == performance
        });
        if let Some(offer) = offer {
            crowd.count("offer received");
            let hold = Hold {
                id: offer["reservation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                price: offer["price"].as_i64().unwrap_or(0),
            };
            if pay(crowd, token, &[hold]).await.is_some() {
                crowd.count("offer paid");
            }
            return;
        }
    }
}

/// "KIND rejected: REASON", for the tally.
fn rejected(kind: &str, outcome: &Value) -> String {
    format!(
        "{kind} rejected: {}",
        outcome["reason"].as_str().unwrap_or("?")
    )
}

/// "WHAT succeeded", or "WHAT rejected: REASON".
fn named(what: &str, outcome: &Value) -> String {
    if outcome["status"] == "succeeded" {
        format!("{what} succeeded")
    } else {
        rejected(what, outcome)
    }
}

/// A pause of `lo` to `hi` milliseconds.
fn millis(rng: &mut Rng, lo: i64, hi: i64) -> Duration {
    Duration::from_millis(rng.range(lo, hi).unsigned_abs())
}
