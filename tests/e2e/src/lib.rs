//! Only tests live here (see tests/); they are `#[ignore]`d so plain `cargo test` skips them.
