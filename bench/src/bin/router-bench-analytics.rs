//! Analytics benchmark (issue 16): how fast `GET /api/v1/analytics` answers over 90 days of
//! history, and what the scheduler's rollup costs to build it.
//!
//! It starts the router API in process on loopback (real HTTP, a fresh Postgres database, the fake
//! Graph API for connecting accounts), seeds `--messages` messages (half customer messages in
//! `inbound_events`, half our replies in `outbound_messages` with their `sent` history, 30 s
//! after the customer's) spread evenly over 90 days and `--accounts` accounts, runs the rollup
//! over the 90 days, then times the report: first on the fresh, never-analysed database, then
//! after `ANALYZE`. Prints a Markdown table for docs/PERFORMANCE.md.
//!
//! ```sh
//! cargo run --release -p router-bench --bin router-bench-analytics -- --messages 10000000
//! ```

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use router_tests::TestApp;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// Messages to seed (half inbound, half outbound).
    #[arg(long, default_value_t = 10_000_000)]
    messages: u64,
    /// Accounts of the one merchant they are spread over.
    #[arg(long, default_value_t = 10)]
    accounts: u32,
    /// Distinct customers per account.
    #[arg(long, default_value_t = 20_000)]
    contacts: u32,
    /// Timed requests per query shape.
    #[arg(long, default_value_t = 50)]
    runs: usize,
}

const DAYS: i64 = 90;

async fn seed(app: &TestApp, merchant: Uuid, accounts: &[Uuid], args: &Args) -> anyhow::Result<()> {
    let per_day = i64::try_from(args.messages / 2).unwrap_or(i64::MAX) / DAYS;
    let start = OffsetDateTime::now_utc() - time::Duration::days(DAYS);
    for d in 0..DAYS {
        let day = start + time::Duration::days(d);
        let t = Instant::now();
        // The customer's message, then ours 30 s later, same account and contact.
        sqlx::query(
            r"insert into inbound_events (inbound_event_id, merchant_id, account_id, event_id, kind, sender_id, raw,
                                          result, occurred_at, created_at)
              select gen_random_uuid(), $1, ($2::uuid[])[1 + g % $3], 'seed-' || $6 || '-' || g, 'message',
                     (1000000 + (g / $3) % $4)::text, '{}', 'delivered', ts, ts
                from generate_series(0, $5 - 1) g,
                     lateral (select $7::timestamptz + (g::float8 / $5) * interval '1 day' as ts) x",
        )
        .bind(merchant)
        .bind(accounts)
        .bind(i64::from(args.accounts))
        .bind(i64::from(args.contacts))
        .bind(per_day)
        .bind(d)
        .bind(day)
        .execute(&app.db)
        .await?;
        sqlx::query(
            r"with o as (
                  insert into outbound_messages (message_id, merchant_id, account_id, recipient_id, message_text,
                                                 status, created_at, updated_at, sent_at)
                  select gen_random_uuid(), $1, ($2::uuid[])[1 + g % $3], (1000000 + (g / $3) % $4)::text, 'seeded',
                         'delivered', ts + interval '30 seconds', ts + interval '30 seconds', ts + interval '31 seconds'
                    from generate_series(0, $5 - 1) g,
                         lateral (select $6::timestamptz + (g::float8 / $5) * interval '1 day' as ts) x
                  returning merchant_id, message_id, sent_at
              )
              insert into message_events (merchant_id, message_id, status, occurred_at)
              select merchant_id, message_id, 'sent', sent_at from o",
        )
        .bind(merchant)
        .bind(accounts)
        .bind(i64::from(args.accounts))
        .bind(i64::from(args.contacts))
        .bind(per_day)
        .bind(day)
        .execute(&app.db)
        .await?;
        eprintln!("seeded day {}/{DAYS} ({} messages) in {:.1?}", d + 1, per_day * 2, t.elapsed());
    }
    Ok(())
}

/// p50, p99 and max of `runs` timed GETs of `path`, plus the first (cold) one, in ms.
async fn time_query(app: &TestApp, key: &str, path: &str, runs: usize) -> anyhow::Result<(f64, f64, f64, f64, Value)> {
    let http = reqwest::Client::new();
    let get = || http.get(format!("{}{path}", app.base)).bearer_auth(key).send();
    let t = Instant::now();
    let first = get().await?;
    anyhow::ensure!(first.status().is_success(), "{path}: {}", first.status());
    let cold = t.elapsed().as_secs_f64() * 1000.0;
    let body: Value = first.json().await?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let r = get().await?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        let _ = r.bytes().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    Ok((cold, pct(0.5), pct(0.99), ms[ms.len() - 1], body))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.runs > 0 && args.accounts > 0 && args.messages >= 2 * DAYS as u64, "nothing to measure");
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Bench").await;
    let mut accounts = Vec::new();
    for i in 0..args.accounts {
        let (a, _) = app
            .connect_account(&key, &format!("17841400{:09}", 500 + i), "bench", "whsec_bench_secret_0123456789")
            .await;
        accounts.push(a["account_id"].as_str().context("account_id")?.parse::<Uuid>()?);
    }
    let t = Instant::now();
    seed(&app, merchant, &accounts, &args).await?;
    let seeding = t.elapsed();

    let now = OffsetDateTime::now_utc();
    let t = Instant::now();
    let rows =
        router_core::analytics::roll_up(&app.db, now - time::Duration::days(DAYS + 1), now + time::Duration::hours(1))
            .await?;
    let rollup = t.elapsed();

    let at = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default().replace('+', "%2B");
    let range = |days: i64| format!("from={}&to={}", at(now - time::Duration::days(days)), at(now));
    let shapes = [
        ("merchant, 90 days by day", format!("/api/v1/analytics?{}&granularity=day", range(DAYS))),
        ("one account, 90 days by day", format!("/api/v1/analytics?{}&account_id={}", range(DAYS), accounts[0])),
        ("merchant, 31 days by hour", format!("/api/v1/analytics?{}&granularity=hour", range(31))),
    ];
    println!("# router-bench-analytics\n");
    println!(
        "{} messages over {DAYS} days, {} accounts × {} contacts; seeded in {:.0?}; rollup of {DAYS} days: {rows} \
         account-hours in {:.1?}\n",
        args.messages, args.accounts, args.contacts, seeding, rollup
    );
    println!("| query | database | first (ms) | p50 (ms) | p99 (ms) | max (ms) | totals.received |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for analysed in [false, true] {
        if analysed {
            sqlx::query("analyze").execute(&app.db).await?;
        }
        for (name, path) in &shapes {
            let (cold, p50, p99, max, body) = time_query(&app, &key, path, args.runs).await?;
            println!(
                "| {name} | {} | {cold:.1} | {p50:.1} | {p99:.1} | {max:.1} | {} |",
                if analysed { "after ANALYZE" } else { "fresh (never analysed)" },
                body["totals"]["received"]
            );
        }
    }
    Ok(())
}
