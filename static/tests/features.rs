//! The features users of nginx, Caddy and static-web-server expect, through the real binary:
//! gzip made once per file version, headers by path, the single-page-app fallback (under a
//! base path and behind the proxy), directory listings, and their command-line errors.

use testkit::{run, start, Proxy, Site};

/// A compressible page of about 8 KiB.
fn page(marker: &str) -> String {
    let mut s = String::from("<!doctype html><title>page</title>\n");
    for i in 0..200 {
        s.push_str(&format!("<p>{marker} paragraph {i}</p>\n"));
    }
    s
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    assert!(body.len() > 18 && body[..3] == [0x1f, 0x8b, 8], "not gzip");
    let data = miniz_oxide::inflate::decompress_to_vec(&body[10..body.len() - 8]).expect("deflate");
    let size = u32::from_le_bytes(body[body.len() - 4..].try_into().unwrap());
    assert_eq!(size as usize, data.len());
    data
}

const GZIP: (&str, &str) = ("Accept-Encoding", "gzip, deflate");

#[test]
fn gzip_made_once_with_its_own_validators() {
    let site = Site::new("gzip");
    site.write("page.html", page("first"));
    site.write("tiny.html", "<p>tiny</p>");
    site.write("photo.png", vec![0u8; 8192]);
    let server = start(&site.root, &[]);

    let identity = server.get("/page.html");
    let gz = server.get_with("/page.html", &[GZIP]);
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"), "{}", gz.dump());
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert_eq!(identity.header("vary"), Some("Accept-Encoding"));
    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(gz.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(gz.body.len() < identity.body.len() / 4);
    assert_eq!(gunzip(&gz.body), identity.body);
    let (etag_id, etag_gz) = (identity.header("etag").unwrap(), gz.header("etag").unwrap());
    assert_ne!(etag_id, etag_gz, "one ETag per representation");
    assert!(!etag_gz.starts_with("W/"));

    // 304 for both, each with its own validator.
    let r = server.get_with("/page.html", &[GZIP, ("If-None-Match", etag_gz)]);
    assert_eq!(r.status, 304, "{}", r.dump());
    assert_eq!(r.header("etag"), Some(etag_gz));
    let r = server.get_with("/page.html", &[("If-None-Match", etag_id)]);
    assert_eq!(r.status, 304);
    // The identity ETag does not validate the gzip representation.
    let r = server.get_with("/page.html", &[GZIP, ("If-None-Match", etag_id)]);
    assert_eq!(r.status, 200);

    // Range applies to the representation sent: bytes of the gzip body.
    let r = server.get_with("/page.html", &[GZIP, ("Range", "bytes=0-9")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, &gz.body[..10]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-9/{}", gz.body.len()).as_str())
    );

    // q=0 and identity-preferred clients get identity.
    for ae in ["gzip;q=0", "gzip;q=0.5, identity", "br"] {
        let r = server.get_with("/page.html", &[("Accept-Encoding", ae)]);
        assert_eq!(r.header("content-encoding"), None, "{ae}");
        assert_eq!(r.body, identity.body, "{ae}");
    }
    // `*` and identity;q=0 get gzip.
    for ae in ["*", "identity;q=0, gzip"] {
        let r = server.get_with("/page.html", &[("Accept-Encoding", ae)]);
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{ae}");
    }
    // Too small, or not compressible: as they are.
    for path in ["/tiny.html", "/photo.png"] {
        let r = server.get_with(path, &[GZIP]);
        assert_eq!(r.header("content-encoding"), None, "{path}");
    }
    // HEAD: the gzip head, no body.
    let mut c = server.connect();
    c.send(&testkit::request(
        "HEAD",
        "/page.html",
        &[GZIP, ("Connection", "close")],
    ));
    let r = c.read_head_response();
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.content_length(), Some(gz.body.len() as u64));
}

#[test]
fn an_edited_file_never_gets_the_old_compressed_bytes() {
    let site = Site::new("gzip-edit");
    site.write("page.html", page("before"));
    let server = start(&site.root, &["--workers", "1"]);
    let before = server.get_with("/page.html", &[GZIP]);
    assert_eq!(gunzip(&before.body), page("before").as_bytes());
    // Same length, different bytes, written right away.
    site.write("page.html", page("AFTER!"));
    let after = server.get_with("/page.html", &[GZIP]);
    assert_eq!(gunzip(&after.body), page("AFTER!").as_bytes());
    assert_ne!(before.header("etag"), after.header("etag"));
}

#[test]
fn compression_can_be_turned_off() {
    let site = Site::new("gzip-off");
    site.write("page.html", page("x"));
    site.write("app.js", "let a = 1;\n".repeat(300));
    site.write("app.js.gz", "sidecar");
    let server = start(&site.root, &["--compress", "off"]);
    let r = server.get_with("/page.html", &[GZIP]);
    assert_eq!(r.header("content-encoding"), None);
    // Sidecars are still served.
    let r = server.get_with("/app.js", &[GZIP]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, b"sidecar");
}

#[test]
fn headers_by_path() {
    let site = Site::new("rules");
    site.write("index.html", "<h1>home</h1>");
    site.write("assets/app.js", "let a = 1;");
    site.write("a.txt", "0123456789");
    let server = start(
        &site.root,
        &[
            "--header",
            "/assets/*: Cache-Control: public, max-age=31536000, immutable",
            "--header",
            "*.html: Content-Security-Policy: default-src 'self'",
            "--header",
            "*.txt: X-Robots-Tag: noindex",
        ],
    );
    let js = server.get("/assets/app.js");
    assert_eq!(
        js.all("cache-control"),
        ["public, max-age=31536000, immutable"],
        "replaces the default, once"
    );
    let home = server.get("/");
    assert_eq!(
        home.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(home.header("cache-control"), Some("no-cache"));
    // 304 keeps Cache-Control (RFC 9110 15.4.5), not the others.
    let etag = js.header("etag").unwrap();
    let r = server.get_with("/assets/app.js", &[("If-None-Match", etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = home.header("etag").unwrap();
    let r = server.get_with("/", &[("If-None-Match", etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("content-security-policy"), None);
    // 206 has them.
    let r = server.get_with("/a.txt", &[("Range", "bytes=0-1")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("x-robots-tag"), Some("noindex"));
    // Not on errors.
    assert_eq!(server.get("/nope.txt").header("x-robots-tag"), None);
}

#[test]
fn headers_from_the_environment() {
    let site = Site::new("rules-env");
    site.write("a.txt", "x");
    let mut cmd = std::process::Command::new(testkit::bin("static"));
    cmd.args(["--listen", "127.0.0.1:0", "--root"])
        .arg(&site.root)
        .env("STATIC_HEADERS", "*.txt: X-One: 1\n\n/a.txt: X-Two: 2\n");
    let (process, lines) = testkit::Running::spawn(cmd, "", |l| l.contains(": serving "), 1);
    let addr = testkit::servers::parse_startup_line(&lines[0]).unwrap();
    let server = testkit::Server { process, addr };
    let r = server.get("/a.txt");
    assert_eq!(r.header("x-one"), Some("1"));
    assert_eq!(r.header("x-two"), Some("2"));
}

#[test]
fn single_page_app_fallback() {
    let site = Site::new("spa");
    site.write("index.html", "<div id=app></div>");
    site.write("assets/app.js", "boot()");
    let server = start(&site.root, &["--fallback", "/index.html"]);
    for path in ["/settings", "/users/42/profile", "/deep/path/", "/v1.2/"] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.dump());
        assert_eq!(r.body, b"<div id=app></div>", "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    }
    // Missing assets stay 404; asked for as a page they get it.
    assert_eq!(server.get("/assets/missing.js").status, 404);
    assert_eq!(server.get("/favicon.ico").status, 404);
    let r = server.get_with("/report.pdf", &[("Accept", "text/html,*/*;q=0.8")]);
    assert_eq!(r.status, 200);
    // Real files are untouched.
    assert_eq!(server.get("/assets/app.js").body, b"boot()");
    // HEAD too; other methods are still 405.
    let mut c = server.connect();
    c.send(&testkit::request("HEAD", "/x", &[("Connection", "close")]));
    assert_eq!(c.read_head_response().status, 200);
    let mut c = server.connect();
    c.send(&testkit::request(
        "POST",
        "/x",
        &[("Content-Length", "0"), ("Connection", "close")],
    ));
    assert_eq!(c.read_response().status, 405);
    // Conditional requests work on the fallback page.
    let etag = server.get("/x").header("etag").unwrap().to_string();
    assert_eq!(
        server.get_with("/y", &[("If-None-Match", &etag)]).status,
        304
    );
}

#[test]
fn fallback_under_a_base_path_and_behind_the_proxy() {
    let site = Site::new("spa-base");
    site.write("index.html", "<div id=app></div>");
    let server = start(
        &site.root,
        &["--fallback", "/index.html", "--base-path", "/app"],
    );
    assert_eq!(server.get("/app/settings").status, 200);
    assert_eq!(server.get("/app/settings").body, b"<div id=app></div>");
    assert_eq!(
        server.get("/other/settings").status,
        404,
        "outside the base path"
    );

    // Behind the proxy stripping /spa: the static server sees /settings.
    let plain = start(&site.root, &["--fallback", "/index.html"]);
    let route = format!("/spa=http://{}", plain.addr);
    let proxy = Proxy::start(&["--route", &route]);
    let r = testkit::get(&proxy, "/spa/settings/profile");
    assert_eq!(r.status, 200, "{}", r.dump());
    assert_eq!(r.body, b"<div id=app></div>");
    assert_eq!(testkit::get(&proxy, "/spa/missing.js").status, 404);
}

#[test]
fn directory_listings() {
    let site = Site::new("listing");
    site.write("files/a <b>.txt", "12345");
    site.write("files/quote\".txt", "x");
    site.write("files/space name.txt", "x");
    site.write("files/été.txt", "x");
    site.write("files/.secret", "x");
    site.mkdir("files/sub dir");
    site.write("with-index/index.html", "index wins");
    let server = start(&site.root, &["--list-dirs"]);

    let r = server.get("/files/");
    assert_eq!(r.status, 200, "{}", r.dump());
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.header("content-security-policy").is_some());
    let html = r.text();
    assert!(html.contains("a &lt;b&gt;.txt"), "{html}");
    assert!(!html.contains("<b>"));
    assert!(html.contains("href=\"./a%20%3Cb%3E.txt\""));
    assert!(html.contains("quote&quot;.txt"));
    assert!(html.contains("href=\"./quote%22.txt\""));
    assert!(html.contains("href=\"./space%20name.txt\""));
    assert!(html.contains(">été.txt<"));
    assert!(html.contains("href=\"./%C3%A9t%C3%A9.txt\""));
    assert!(html.contains("href=\"./sub%20dir/\""));
    assert!(html.contains("href=\"../\""));
    assert!(!html.contains("secret"), "dotfiles hidden");
    assert!(
        html.find("sub dir").unwrap() < html.find("a &lt;b&gt;").unwrap(),
        "directories first"
    );
    // Every link works, relative to the listing.
    assert_eq!(server.get("/files/a%20%3Cb%3E.txt").body, b"12345");

    for (target, headers) in [
        ("/files/", vec![("Accept", "application/json")]),
        ("/files/?format=json", vec![]),
    ] {
        let r = server.get_with(target, &headers);
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{target}"
        );
        let doc = r.text();
        assert!(
            doc.starts_with("{\"path\":\"/files/\",\"entries\":["),
            "{doc}"
        );
        assert!(doc.contains("{\"name\":\"a \\u003cb\\u003e.txt\",\"type\":\"file\",\"size\":5,"));
        assert!(doc.contains("{\"name\":\"quote\\\".txt\""));
        assert!(doc.contains("{\"name\":\"sub dir\",\"type\":\"dir\""));
    }
    // An index still wins; without the slash, the redirect as before.
    assert_eq!(server.get("/with-index/").body, b"index wins");
    assert_eq!(server.get("/files").status, 301);

    // Off by default; dotfiles listed with --show-dotfiles.
    let default = start(&site.root, &[]);
    assert_eq!(default.get("/files/").status, 404);
    let dots = start(&site.root, &["--list-dirs", "--show-dotfiles"]);
    assert!(dots.get("/files/").text().contains(".secret"));
}

#[test]
fn bad_feature_flags_exit_2_with_a_clear_message() {
    for (args, says) in [
        (&["--compress", "yes"][..], "--compress"),
        (&["--header", "*.html Cache-Control: x"], "--header"),
        (&["--header", "/x: Content-Length: 1"], "set by the server"),
        (&["--header", "x: Name: v"], "must start with"),
        (&["--fallback", "index.html"], "--fallback"),
        (&["--fallback", "/../secret"], "--fallback"),
    ] {
        let out = run(&[&["--root", "/tmp"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
