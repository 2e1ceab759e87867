//! Core benchmarks: token parsing and claims decoding (issue 8, bench 4), and the refresh-ahead
//! cache's cached path against the floor of an `ArcSwap` load + clone (the shape of bench 1
//! without AWS types; the AWS comparison lives in `providers/aws/benches`).
//!
//! `cargo bench --bench core`

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vercel_oidc::cache::RefreshAheadCache;
use vercel_oidc::{Claims, OidcToken};

fn vercel_shaped_token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 3600;
    let header = r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#;
    let payload = format!(
        r#"{{"iss":"https://oidc.vercel.com/acme","sub":"owner:acme:project:my-project:environment:production","aud":"https://vercel.com/acme","exp":{exp},"iat":{iat},"nbf":{iat},"owner":"acme","owner_id":"team_abcdefghijklmnopqrstuvwx","project":"my-project","project_id":"prj_abcdefghijklmnopqrstuvwxyz12","environment":"production","scope":"owner:acme:project:my-project:environment:production"}}"#,
        iat = exp - 3600
    );
    // A 2048-bit RSA signature is 256 bytes.
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode([7u8; 256])
    )
}

fn token_parsing(c: &mut Criterion) {
    let raw = vercel_shaped_token();
    let payload = raw.split('.').nth(1).expect("payload").to_owned();
    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse (split + base64 + JSON + typed claims)", |b| {
        b.iter(|| OidcToken::parse(black_box(raw.as_str())).expect("valid"))
    });
    group.bench_function("claims from decoded payload JSON", |b| {
        let json = URL_SAFE_NO_PAD.decode(&payload).expect("b64");
        b.iter(|| {
            let serde_json::Value::Object(map) =
                serde_json::from_slice(black_box(&json)).expect("json")
            else {
                unreachable!("payload is an object")
            };
            Claims::from_json_object(map).expect("claims")
        })
    });
    let token = OidcToken::parse(raw.as_str()).expect("valid");
    group.bench_function("is_expired_within (precise clock)", |b| {
        b.iter(|| black_box(&token).is_expired_within(Duration::from_secs(300)))
    });
    group.finish();
}

fn cached_get(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The value a provider caches: an Arc'd credential set.
    let value: Arc<[u8; 128]> = Arc::new([1; 128]);
    let cache = {
        let value = value.clone();
        RefreshAheadCache::builder().build(move || {
            let value = value.clone();
            async move { Ok::<_, ()>((value, SystemTime::now() + Duration::from_secs(3600))) }
        })
    };
    runtime.block_on(cache.get()).expect("loaded");
    let floor = ArcSwap::from(Arc::new(value));

    let mut group = c.benchmark_group("cached get");
    group.bench_function("floor: ArcSwap load + clone", |b| {
        b.iter(|| Arc::clone(&*black_box(&floor).load()))
    });
    group.bench_function("RefreshAheadCache::try_get", |b| {
        b.iter(|| black_box(&cache).try_get().expect("cached"))
    });
    group.bench_function("clock: SystemClock (coarse) now()", |b| {
        use vercel_oidc::time::Clock as _;
        b.iter(|| black_box(vercel_oidc::time::SystemClock).now())
    });
    group.bench_function("clock: SystemTime::now()", |b| b.iter(SystemTime::now));
    group.bench_function("RefreshAheadCache::get (awaited, ready)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(&cache).get().await.expect("cached") })
    });
    group.finish();
}

fn verifier(c: &mut Criterion) {
    use vercel_oidc::Env;
    use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};
    use vercel_oidc_testkit::Issuer;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (issuer, verifier) = runtime.block_on(async {
        let issuer = Issuer::start().await.expect("issuer");
        let verifier = Verifier::builder(
            ExpectedIssuer::team(issuer.team_slug()),
            issuer.default_audience(),
        )
        .issuer_base_url(issuer.base_url())
        .env(Env::from_pairs::<&str, &str>([]))
        .project_id(Constraint::Any)
        .environment("production")
        .owner_id(Constraint::Any)
        .build()
        .expect("verifier");
        (issuer, verifier)
    });
    let token = issuer.token().sign();
    runtime
        .block_on(verifier.verify(&token))
        .expect("warm: keys fetched once");
    // The floor: the same signature checked by aws-lc-rs alone, the key parsed beforehand, the
    // signature already decoded.
    use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, issuer.public_key_der())
        .expect("the issuer's key");
    let (signing_input, signature) = token.rsplit_once('.').expect("a JWS");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    key.verify_sig(signing_input.as_bytes(), &signature)
        .expect("the floor verifies the token");
    let mut group = c.benchmark_group("verifier");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "floor: aws-lc-rs RSA-2048 PKCS#1 v1.5 verify, pre-parsed key",
        |b| {
            b.iter(|| {
                key.verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                    .expect("valid")
            })
        },
    );
    group.bench_function("verify RS256 token, warm JWKS", |b| {
        b.to_async(&runtime)
            .iter(|| async { verifier.verify(black_box(&token)).await.expect("valid") })
    });
    group.finish();
    drop(issuer);
}

criterion_group!(benches, token_parsing, cached_get, verifier);
criterion_main!(benches);
