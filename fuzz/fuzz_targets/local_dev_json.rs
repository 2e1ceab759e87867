#![no_main]
// `.vercel/project.json` / `auth.json` parsing and the auth.json merge.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vercel_oidc::fuzzing::local_dev_json(data));
