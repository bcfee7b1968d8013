//! Instructions per sale in the hub's process: a figure that does not move
//! with whatever else the machine is doing, beside the timings of
//! `wrk-load`. Each build runs under `valgrind --tool=callgrind` twice, on a
//! fresh venue, selling `--sales` and then twice as many sales one after
//! another over one connection with the cookie of one login; the
//! difference of the two totals over `--sales` is what one more sale costs
//! (the start, the login and the stop cancel out).
//!
//! ```sh
//! cargo build --release --bin cajahub --example sale-instructions
//! target/release/examples/sale-instructions --hub /tmp/cajahub-before --hub target/release/cajahub --sales 1000
//! ```
//!
//! Options: `--hub PATH` (repeatable; default the `cajahub` beside this
//! program), `--sales N` (1000), `--cajas N` (10), `--database-url URL`
//! (where throwaway databases are made; its query, `sslmode=` or a
//! socket's `host=`, is how the hub connects).

use std::path::Path;

// Shared with the other generators, which use the rest.
#[allow(dead_code)]
#[path = "common.rs"]
mod common;
#[allow(dead_code)]
#[path = "hub.rs"]
mod hub;
use common::{Venue, number, parse_flags, session_cookie};
use hub::Hub;

struct Options {
    hubs: Vec<String>,
    sales: usize,
    cajas: usize,
    admin_url: String,
}

fn options() -> Options {
    let mut options = Options {
        hubs: Vec::new(),
        sales: 1000,
        cajas: 10,
        admin_url: common::DEFAULT_ADMIN_URL.to_owned(),
    };
    parse_flags(|flag, value| {
        match flag {
            "--hub" => options.hubs.push(value.into()),
            "--sales" => options.sales = number(flag, value),
            "--cajas" => options.cajas = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            _ => return false,
        }
        true
    });
    hub::named_or_beside(&mut options.hubs);
    options
}

/// The instructions the hub executed, all threads, from its start to its
/// stop, having acknowledged `sales` sales.
async fn instructions(options: &Options, binary: &str, sales: usize, dir: &Path) -> u64 {
    let venue = Venue::create(&options.admin_url, options.cajas, Some(binary));
    let out = dir.join(format!("callgrind.{sales}"));
    let wrapper = [
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    let (hub, base) = Hub::start_under(&wrapper, binary, &venue.url).await;
    let cookie = session_cookie(&base).await;
    let client = reqwest::Client::new();
    for n in 0..sales {
        let caja = n % options.cajas + 1;
        let total = 1000 + (n % 50) * 10;
        let body = format!(
            r#"{{"key":"{}","total":{total},"payments":[{{"method":"EFECTIVO","amount":{total}}}]}}"#,
            uuid::Uuid::new_v4()
        );
        let response = client
            .post(format!("{base}/api/cajas/{caja}/sales"))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the hub answers");
        assert_eq!(response.status(), 201, "sale {n} acknowledged");
    }
    hub.terminate();
    venue.drop_database();
    let text = std::fs::read_to_string(&out).expect("callgrind's output");
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or(line.strip_prefix("totals:"))
        })
        .and_then(|total| total.trim().parse().ok())
        .expect("callgrind's total")
}

#[actix_web::main]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("a folder for callgrind's output");
    println!(
        "| hub | {} sales | {} sales | instructions per sale |",
        options.sales,
        2 * options.sales
    );
    println!("|---|---:|---:|---:|");
    for binary in &options.hubs {
        let once = instructions(&options, binary, options.sales, dir.path()).await;
        let twice = instructions(&options, binary, 2 * options.sales, dir.path()).await;
        let per_sale = twice.saturating_sub(once) / options.sales as u64;
        println!("| `{binary}` | {once} | {twice} | **{per_sale}** |");
    }
}
