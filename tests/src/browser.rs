//! A real browser for the HTML surfaces' tests: headless Debian Chromium driven
//! through `chromedriver` with fantoccini.
//!
//! [`open`] starts `/usr/bin/chromedriver` on a free port and a headless Chromium
//! session with a fresh profile; the [`Browser`] derefs to the [`fantoccini::Client`]
//! and kills chromedriver and its Chromium (their process group) when dropped. A missing Chromium or
//! chromedriver is a failure, never a skip: `.ci/run` installs both.
//! [`Browser::screenshot`] saves PNGs under `<workspace>/artifacts/screenshots/`.

use std::{
    ops::Deref,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder};

/// Where Debian puts Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian puts chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium session. Derefs to the WebDriver client.
pub struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop(&mut self.driver);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Kills chromedriver and the Chromium it started: chromedriver runs in a process
/// group of its own (its id), and Chromium, which outlives a killed chromedriver,
/// belongs to it. The group is named after `--`, as `kill -s KILL -- -PGID`: procps-ng
/// 4.0.2's `kill -KILL -PGID` sends SIGKILL to every process (`kill(-1)`), which took
/// PostgreSQL and everything else on the machine down with the browser.
fn stop(driver: &mut Child) {
    let group = format!("-{}", driver.id());
    let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// The directory screenshots are saved in (`<workspace root>/artifacts/screenshots`).
pub fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("artifacts").join("screenshots")
}

/// Starts chromedriver on a free port and a headless Chromium window of
/// `width` × `height` CSS pixels. Panics (fails the test) when either program is missing.
pub async fn open(width: u32, height: u32) -> Browser {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install it (apt-get install -y chromium chromium-driver; .ci/run does)"
    );
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "{CHROMEDRIVER} is missing: install it (apt-get install -y chromium chromium-driver; .ci/run does)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    use std::os::unix::process::CommandExt;
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = std::env::temp_dir().join(format!("gatehouse-chromium-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&profile).expect("a profile directory");
    // Dropped (and chromedriver killed) if anything below panics.
    let mut browser = PendingBrowser { driver: Some(driver), profile: profile.clone() };

    let args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": CHROMIUM, "args": args }));

    let url = format!("http://127.0.0.1:{port}");
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let client = loop {
        match ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&url).await {
            Ok(client) => break client,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "chromedriver not ready yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("could not start a Chromium session through chromedriver: {e}"),
        }
    };
    // The window size includes the browser's frame in some versions: set the viewport
    // itself so screenshots are exactly `width` × `height`.
    let _ = client.set_window_size(width, height).await;
    let driver = browser.driver.take().expect("the driver");
    Browser { client, driver, profile }
}

struct PendingBrowser {
    driver: Option<Child>,
    profile: PathBuf,
}

impl Drop for PendingBrowser {
    fn drop(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            stop(&mut driver);
            let _ = std::fs::remove_dir_all(&self.profile);
        }
    }
}

impl Browser {
    /// The WebDriver client (also reachable through `Deref`).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Saves a PNG of the current viewport as `artifacts/screenshots/<name>.png` and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("create artifacts/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path.canonicalize().unwrap_or(path)
    }
}
