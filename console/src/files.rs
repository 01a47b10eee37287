//! The console's files, embedded at build time, and their content types.

/// One embedded file.
pub struct StaticFile {
    /// The path below the console's route, e.g. `/js/app.js`.
    pub path: &'static str,
    /// The `Content-Type`, with a charset for text.
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
}

impl StaticFile {
    /// A strong ETag: a 64-bit FNV-1a hash of the bytes. Not cryptographic (nothing
    /// depends on it being unforgeable); it only has to change when the file does.
    pub fn etag(&self) -> String {
        let hash = self
            .body
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("\"{hash:016x}\"")
    }
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Embeds `static/<path>` under `/<path>`.
macro_rules! static_file {
    ($path:literal, $content_type:expr) => {
        StaticFile {
            path: concat!("/", $path),
            content_type: $content_type,
            body: include_bytes!(concat!("../static/", $path)),
        }
    };
}

/// The page itself, served for the console's root (`/console/`).
pub const INDEX: StaticFile = static_file!("index.html", HTML);

/// Every file but the index. A file added under `static/` must be listed here; the
/// browser tests load every page, so a missing entry shows up as a failed import.
const FILES: &[StaticFile] = &[
    INDEX,
    static_file!("app.css", CSS),
    static_file!("favicon.svg", SVG),
    static_file!("js/api.js", JAVASCRIPT),
    static_file!("js/app.js", JAVASCRIPT),
    static_file!("js/chart.js", JAVASCRIPT),
    static_file!("js/dom.js", JAVASCRIPT),
    static_file!("js/format.js", JAVASCRIPT),
    static_file!("js/session.js", JAVASCRIPT),
    static_file!("js/views/dashboard.js", JAVASCRIPT),
    static_file!("js/views/keys.js", JAVASCRIPT),
    static_file!("js/views/order.js", JAVASCRIPT),
    static_file!("js/views/orders.js", JAVASCRIPT),
    static_file!("js/views/product.js", JAVASCRIPT),
    static_file!("js/views/products.js", JAVASCRIPT),
    static_file!("js/views/signin.js", JAVASCRIPT),
    static_file!("js/views/webhooks.js", JAVASCRIPT),
];

/// The file at `path` (below the console's route), if there is one.
pub fn find(path: &str) -> Option<&'static StaticFile> {
    FILES.iter().find(|file| file.path == path)
}
