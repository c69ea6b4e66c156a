//! Every template, end to end: `wasmctl new` -> `wasmctl build` -> a valid proxy-wasm module, and the
//! generated project's own unit tests pass with `cargo test` on the host.

mod support;

use support::{built_template, cargo, exports, run_ok};

fn template_end_to_end(template: &str, root_context_export: &str) {
    let built = built_template(template);
    let root = &built.project;
    let module = std::fs::read(&built.module).unwrap();
    assert_eq!(&module[..4], b"\0asm");
    let names = exports(&module);
    for want in [
        "memory",
        "proxy_abi_version_0_2_1",
        "proxy_on_memory_allocate",
        "proxy_on_configure",
        root_context_export,
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{template}: missing export {want}: {names:?}"
        );
    }
    wasmparser::Validator::new()
        .validate_all(&module)
        .expect("module validates");

    let r = run_ok(cargo(root).args(["test", "--quiet"]));
    let passed: usize = r
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed > 0,
        "{template}: the generated project has no passing unit tests:\n{}",
        r.stdout
    );
}

#[test]
fn http_headers() {
    template_end_to_end("http-headers", "proxy_on_response_headers");
}

#[test]
fn http_auth() {
    template_end_to_end("http-auth", "proxy_on_request_headers");
}

#[test]
fn http_body() {
    template_end_to_end("http-body", "proxy_on_response_body");
}

#[test]
fn network() {
    template_end_to_end("network", "proxy_on_downstream_data");
}
