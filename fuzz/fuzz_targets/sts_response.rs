#![no_main]
// The STS response path (status byte + body) through aws-sdk-sts and the provider's load.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vercel_oidc_aws::fuzzing::sts_response(data));
