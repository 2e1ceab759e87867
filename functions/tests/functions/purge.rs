//! Purge calls produce exactly the REST requests the Vercel API documents (checked by the
//! testkit's purge API emulator); missing settings are typed errors naming what to set.

use serde_json::json;
use vercel_functions::{
    PurgeError, PurgeOptions, PurgeTarget, dangerously_delete_by_src_image,
    dangerously_delete_by_tag, invalidate_by_src_image, invalidate_by_tag,
};
use vercel_oidc::{Env, OidcConfig};
use vercel_oidc_testkit::purge::{PurgeApi, PurgeRoute};
use vercel_oidc_testkit::{Endpoint, Fault};

const TOKEN: &str = "vercel_api_tok_8c1d";

async fn api() -> PurgeApi {
    PurgeApi::builder()
        .token(TOKEN)
        .start()
        .await
        .expect("purge api")
}

/// Options from the environment a deployed function has (no `.vercel` anywhere above).
fn options(api: &PurgeApi, env: &[(&str, &str)]) -> PurgeOptions {
    let none = std::env::temp_dir().join("vercel-functions-tests-no-project-here");
    PurgeOptions::new()
        .api_url(api.base_url())
        .start_dir(none)
        .configure(&OidcConfig::new().with_env(Env::from_pairs(env.iter().copied())))
}

fn deployed(api: &PurgeApi) -> PurgeOptions {
    options(
        api,
        &[
            ("VERCEL_PROJECT_ID", "prj_1"),
            ("VERCEL_ORG_ID", "team_1"),
            ("VERCEL_TOKEN", TOKEN),
        ],
    )
}

#[tokio::test]
async fn each_call_sends_its_documented_request() {
    let api = api().await;
    let o = deployed(&api);
    invalidate_by_tag(&["products", "home"], &o)
        .await
        .expect("invalidate tags");
    dangerously_delete_by_tag(&["products"], &o.clone().revalidation_deadline_seconds(60))
        .await
        .expect("delete tags");
    invalidate_by_src_image(&["/hero.png"], &o.clone().revalidation_deadline_seconds(9))
        .await
        .expect("invalidate images");
    dangerously_delete_by_src_image(&["https://cdn.example.com/a.jpg"], &o)
        .await
        .expect("delete images");
    let sent = api.requests();
    assert_eq!(sent.len(), 4);
    let expected = [
        (
            PurgeRoute::InvalidateByTags,
            json!({"tags": ["products", "home"]}),
        ),
        (
            PurgeRoute::DangerouslyDeleteByTags,
            json!({"tags": ["products"], "revalidationDeadlineSeconds": 60}),
        ),
        // The deadline is not a field of the invalidate calls.
        (
            PurgeRoute::InvalidateBySrcImages,
            json!({"srcImages": ["/hero.png"]}),
        ),
        (
            PurgeRoute::DangerouslyDeleteBySrcImages,
            json!({"srcImages": ["https://cdn.example.com/a.jpg"]}),
        ),
    ];
    for (request, (route, body)) in sent.iter().zip(expected) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.route, Some(route));
        assert_eq!(request.path, route.path());
        assert_eq!(
            request.raw_query.as_deref(),
            Some("projectIdOrName=prj_1&teamId=team_1")
        );
        assert_eq!(request.bearer.as_deref(), Some(TOKEN));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.json, Some(body), "{route:?}");
    }
}

#[tokio::test]
async fn target_explicit_ids_and_no_team() {
    let api = api().await;
    let o = options(&api, &[("VERCEL_TOKEN", TOKEN)])
        .project("my app")
        .target(PurgeTarget::Preview);
    invalidate_by_tag(&["a"], &o).await.expect("invalidate");
    dangerously_delete_by_tag(&["b"], &o.clone().target(PurgeTarget::Production))
        .await
        .expect("delete");
    let sent = api.requests();
    assert_eq!(sent[0].raw_query.as_deref(), Some("projectIdOrName=my+app"));
    assert_eq!(sent[0].project_id_or_name.as_deref(), Some("my app"));
    assert_eq!(sent[0].team_id, None);
    assert_eq!(
        sent[0].json,
        Some(json!({"tags": ["a"], "target": "preview"}))
    );
    assert_eq!(
        sent[1].json,
        Some(json!({"tags": ["b"], "target": "production"}))
    );
}

#[tokio::test]
async fn project_and_team_from_project_json() {
    let api = api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".vercel")).expect("mkdir");
    std::fs::write(
        dir.path().join(".vercel/project.json"),
        r#"{"projectId":"prj_linked","orgId":"team_linked"}"#,
    )
    .expect("write");
    let o = options(&api, &[]).start_dir(dir.path()).token(TOKEN);
    invalidate_by_tag(&["t"], &o).await.expect("invalidate");
    let sent = api.last_request().expect("sent");
    assert_eq!(sent.project_id_or_name.as_deref(), Some("prj_linked"));
    assert_eq!(sent.team_id.as_deref(), Some("team_linked"));
}

#[tokio::test]
async fn missing_settings_are_typed_and_send_nothing() {
    let api = api().await;
    let e = invalidate_by_tag(&["t"], &options(&api, &[("VERCEL_TOKEN", TOKEN)]))
        .await
        .expect_err("no project");
    assert!(matches!(e, PurgeError::MissingProject));
    assert!(e.is_configuration());
    assert!(e.to_string().contains("VERCEL_PROJECT_ID"), "{e}");
    // On Vercel there is no CLI login to fall back to.
    let e = invalidate_by_tag(
        &["t"],
        &options(&api, &[("VERCEL_PROJECT_ID", "p"), ("VERCEL", "1")]),
    )
    .await
    .expect_err("no token");
    assert!(
        matches!(
            e,
            PurgeError::MissingToken {
                local_dev: false,
                cli: None
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("VERCEL_TOKEN"), "{e}");
    // Locally, without a CLI login either.
    let home = tempfile::tempdir().expect("home");
    let e = invalidate_by_tag(
        &["t"],
        &options(
            &api,
            &[
                ("VERCEL_PROJECT_ID", "p"),
                ("HOME", home.path().to_str().expect("utf8")),
            ],
        ),
    )
    .await
    .expect_err("not logged in");
    assert!(
        matches!(
            e,
            PurgeError::MissingToken {
                local_dev: true,
                cli: Some(_)
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("vercel login"), "{e}");
    // Bad input.
    let e = invalidate_by_tag::<&str>(&[], &deployed(&api))
        .await
        .expect_err("no tags");
    assert!(matches!(e, PurgeError::InvalidInput { .. }));
    let e = invalidate_by_src_image(&[""], &deployed(&api))
        .await
        .expect_err("empty image");
    assert!(matches!(e, PurgeError::InvalidInput { .. }));
    assert_eq!(api.request_count(), 0);
}

#[tokio::test]
async fn the_cli_login_is_the_local_dev_token() {
    let api = api().await;
    let home = tempfile::tempdir().expect("home");
    let cli = home.path().join(".local/share/com.vercel.cli");
    std::fs::create_dir_all(&cli).expect("mkdir");
    std::fs::write(cli.join("auth.json"), format!(r#"{{"token":"{TOKEN}"}}"#)).expect("write");
    let o = options(
        &api,
        &[
            ("VERCEL_PROJECT_ID", "prj_1"),
            ("HOME", home.path().to_str().expect("utf8")),
        ],
    );
    invalidate_by_tag(&["t"], &o)
        .await
        .expect("with the CLI login");
    assert_eq!(
        api.last_request().expect("sent").bearer.as_deref(),
        Some(TOKEN)
    );
}

#[tokio::test]
async fn api_failures_are_typed() {
    let api = api().await;
    let wrong = deployed(&api).token("not-the-token");
    let e = invalidate_by_tag(&["t"], &wrong).await.expect_err("403");
    assert!(matches!(e, PurgeError::Status { status: 403 }), "{e:?}");
    assert!(!e.is_transient());
    api.faults().next(Endpoint::Purge, 1, Fault::Status(503));
    let e = invalidate_by_tag(&["t"], &deployed(&api))
        .await
        .expect_err("503");
    assert!(matches!(e, PurgeError::Status { status: 503 }));
    assert!(e.is_transient());
    api.faults().next(Endpoint::Purge, 1, Fault::Drop);
    let e = invalidate_by_tag(&["t"], &deployed(&api))
        .await
        .expect_err("dropped");
    assert!(matches!(e, PurgeError::Transport(_)));
    invalidate_by_tag(&["t"], &deployed(&api))
        .await
        .expect("then fine");
}
