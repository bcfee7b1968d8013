//! Instructions and heap allocations per sale in the hub's process:
//! figures that do not move with whatever else the machine is doing, beside
//! the timings of `wrk-load`. Each build runs under `valgrind
//! --tool=callgrind` and then `--tool=dhat`, each twice on a fresh venue,
//! selling `--sales` and then twice as many sales one after another over
//! one connection with the cookie of one login; the difference of the two
//! totals over `--sales` is what one more sale costs (the start, the login
//! and the stop cancel out).
//!
//! ```sh
//! cargo build --release --bin cajahub --example sale-instructions
//! target/release/examples/sale-instructions --hub /tmp/cajahub-before --hub target/release/cajahub --sales 1000
//! ```
//!
//! Options: `--hub PATH` (repeatable; default the `cajahub` beside this
//! program), `--sales N` (1000), `--cajas N` (10), `--database-url URL`
//! (where throwaway databases are made; its query, `sslmode=` or a
//! socket's `host=`, is how the hub connects), `--out DIR` (keep
//! valgrind's files there, named by tool, build and sales).

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
    /// Where valgrind's files are kept, for `callgrind_annotate` or
    /// `dh_view.html`; a temporary folder otherwise.
    out: Option<std::path::PathBuf>,
}

fn options() -> Options {
    let mut options = Options {
        hubs: Vec::new(),
        sales: 1000,
        cajas: 10,
        admin_url: common::DEFAULT_ADMIN_URL.to_owned(),
        out: None,
    };
    parse_flags(include_str!("instructions.rs"), |flag, value| {
        match flag {
            "--hub" => options.hubs.push(value.into()),
            "--sales" => options.sales = number(flag, value),
            "--cajas" => options.cajas = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            "--out" => options.out = Some(value.into()),
            _ => return false,
        }
        true
    });
    hub::named_or_beside(&mut options.hubs);
    options
}

/// What a valgrind tool counts over the hub's whole life.
#[derive(Clone, Copy)]
enum Count {
    /// Instructions executed, all threads (callgrind).
    Instructions,
    /// Heap blocks allocated, and their bytes (dhat).
    Allocations,
}

/// The hub's counts, from its start to its stop, having acknowledged
/// `sales` sales: instructions, or allocations and their bytes.
async fn counted(
    options: &Options,
    binary: &str,
    sales: usize,
    count: Count,
    dir: &Path,
) -> (u64, u64) {
    let venue = Venue::create(&options.admin_url, options.cajas, Some(binary));
    let build = Path::new(binary)
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    let tool = match count {
        Count::Instructions => "callgrind",
        Count::Allocations => "dhat",
    };
    let out = dir.join(format!("{tool}.{build}.{sales}"));
    let log = dir.join(format!("{tool}.{build}.{sales}.log"));
    let wrapper = match count {
        Count::Instructions => vec![
            "valgrind".to_owned(),
            "--tool=callgrind".to_owned(),
            format!("--callgrind-out-file={}", out.display()),
        ],
        Count::Allocations => vec![
            "valgrind".to_owned(),
            "--tool=dhat".to_owned(),
            format!("--dhat-out-file={}", out.display()),
            format!("--log-file={}", log.display()),
        ],
    };
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
    let figure = |text: &str| text.replace(',', "").trim().parse::<u64>().ok();
    match count {
        Count::Instructions => {
            let text = std::fs::read_to_string(&out).expect("callgrind's output");
            let total = text
                .lines()
                .find_map(|line| {
                    line.strip_prefix("summary:")
                        .or(line.strip_prefix("totals:"))
                })
                .and_then(figure)
                .expect("callgrind's total");
            (total, 0)
        }
        Count::Allocations => {
            // "==123== Total:     1,234 bytes in 56 blocks"
            let text = std::fs::read_to_string(&log).expect("dhat's log");
            text.lines()
                .find_map(|line| {
                    let (_, total) = line.split_once("Total:")?;
                    let (bytes, rest) = total.split_once("bytes in")?;
                    let blocks = rest.trim().strip_suffix("blocks")?;
                    Some((figure(blocks)?, figure(bytes)?))
                })
                .expect("dhat's totals")
        }
    }
}

#[actix_web::main]
async fn main() {
    let options = options();
    let temporary = tempfile::tempdir().expect("a folder for valgrind's output");
    let dir = match &options.out {
        Some(out) => {
            std::fs::create_dir_all(out).expect("the --out folder");
            out.as_path()
        }
        None => temporary.path(),
    };
    let n = options.sales;
    println!("{n} and {} sales; per sale, the difference over {n}", 2 * n);
    println!("| hub | instructions per sale | allocations per sale | bytes allocated per sale |");
    println!("|---|---:|---:|---:|");
    for binary in &options.hubs {
        let mut per_sale = Vec::new();
        for count in [Count::Instructions, Count::Allocations] {
            let once = counted(&options, binary, n, count, dir).await;
            let twice = counted(&options, binary, 2 * n, count, dir).await;
            per_sale.push((twice.0.saturating_sub(once.0)) / n as u64);
            per_sale.push((twice.1.saturating_sub(once.1)) / n as u64);
        }
        println!(
            "| `{binary}` | {} | {} | {} |",
            per_sale[0], per_sale[2], per_sale[3]
        );
    }
}
