#![no_main]
// JWT splitting, base64url and JSON decoding of header and payload, claim typing.
libfuzzer_sys::fuzz_target!(|data: &str| vercel_oidc::fuzzing::jwt_parse(data));
