//! Real headless Chromium for the admin console's browser tests, driven over WebDriver by
//! fantoccini: each [`Browser`] starts its own `chromedriver` on a free loopback port and stops it
//! on drop. Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when
//! missing); `CHROMEDRIVER` / `CHROMIUM` override the binaries' paths.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A browser session and the chromedriver behind it.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

fn find(var: &str, candidates: &[&str]) -> String {
    if let Ok(p) = std::env::var(var) {
        return p;
    }
    candidates
        .iter()
        .find(|c| std::path::Path::new(c).exists())
        .map_or_else(|| candidates[0].to_owned(), |c| (*c).to_owned())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of `width`×`height`.
    ///
    /// # Panics
    /// When chromedriver or Chromium is missing (the message says how to install them).
    pub async fn start(width: u32, height: u32) -> Self {
        let driver_bin = find("CHROMEDRIVER", &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let chromium = find("CHROMIUM", &["/usr/bin/chromium", "/usr/lib/chromium/chromium"]);
        let port = router_testing::process::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_bin} ({e}): install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
            });
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--hide-scrollbars", "--lang=en-US",
                         format!("--window-size={width},{height}")],
            }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session through {driver_bin}: {e}"));
        client.set_window_size(width, height).await.expect("window size");
        Self { client, driver }
    }

    /// Waits (at most 10 s) for an element.
    ///
    /// # Panics
    /// When it does not appear; the page's source is printed.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                let src = self.client.source().await.unwrap_or_default();
                panic!("no `{css}` within 10 s ({e}); page was:\n{src}");
            }
        }
    }

    /// Waits for an `h1` with exactly `text`.
    pub async fn wait_for_heading(&self, text: &str) {
        let xpath = format!("//h1[normalize-space(.)='{text}']");
        if let Err(e) = self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath(&xpath)).await {
            let src = self.client.source().await.unwrap_or_default();
            panic!("no heading {text:?} within 10 s ({e}); page was:\n{src}");
        }
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    /// Clicks a link or button by its visible text.
    pub async fn click_text(&self, text: &str) {
        let xpath = format!("//a[normalize-space(.)='{text}'] | //button[normalize-space(.)='{text}']");
        let el = match self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath(&xpath)).await {
            Ok(e) => e,
            Err(e) => panic!("no link or button {text:?} ({e})"),
        };
        el.click().await.expect("click");
    }

    /// Types into the first element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.wait_for(css).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }
}

impl Browser {
    /// Ends the browser session (chromedriver quits its Chromium), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// The direct children of chromedriver (the Chromium browser processes it launched), read
    /// from /proc: ended by pid if a test panicked before `close`.
    fn driver_children(&self) -> Vec<u32> {
        let parent = self.driver.id();
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        dir.filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|stat| {
                    // `pid (comm) state ppid …`: comm may hold spaces, so read after the last ')'.
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                        .and_then(|p| p.parse::<u32>().ok())
                        == Some(parent)
                })
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After `close` chromedriver has already quit Chromium and this finds nothing. After a
        // panic, Chromium is ended by its pid (positive pids of our own children only; its
        // renderer processes exit with it), then chromedriver.
        for pid in self.driver_children() {
            if pid > 1 {
                let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
