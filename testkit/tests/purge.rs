//! The purge API emulator driven over loopback HTTP with plain reqwest: the four routes, the
//! query, bearer auth, body checks per the REST reference, recording and faults.

use serde_json::{Value, json};
use vercel_oidc_testkit::purge::{PurgeApi, PurgeRoute};
use vercel_oidc_testkit::{Endpoint, Fault};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

async fn post(
    api: &PurgeApi,
    path_and_query: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut builder = client()
        .post(format!("{}{path_and_query}", api.base_url()))
        .json(&body);
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    let response = builder.send().await.expect("the emulator answers");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn each_route_accepts_its_documented_body_and_records_it() {
    let api = PurgeApi::builder()
        .token("tok")
        .start()
        .await
        .expect("start");
    let cases = [
        (
            PurgeRoute::InvalidateByTags,
            json!({"tags": ["a", "b"], "target": "production"}),
        ),
        (
            PurgeRoute::DangerouslyDeleteByTags,
            json!({"tags": "a,b", "revalidationDeadlineSeconds": 30}),
        ),
        (
            PurgeRoute::InvalidateBySrcImages,
            json!({"srcImages": ["/img/a.png"]}),
        ),
        (
            PurgeRoute::DangerouslyDeleteBySrcImages,
            json!({"srcImages": ["/img/a.png", "/img/b.png"], "revalidationDeadlineSeconds": 0}),
        ),
    ];
    for (route, body) in &cases {
        let path = format!("{}?projectIdOrName=prj_123&teamId=team_456", route.path());
        let (status, answer) = post(&api, &path, Some("tok"), body.clone()).await;
        assert_eq!(status, 200, "{route:?}");
        assert_eq!(answer, json!({}));
    }
    let requests = api.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(api.request_count(), 4);
    for (request, (route, body)) in requests.iter().zip(&cases) {
        assert_eq!(request.method, reqwest::Method::POST);
        assert_eq!(request.route, Some(*route));
        assert_eq!(request.path, route.path());
        assert_eq!(
            request.raw_query.as_deref(),
            Some("projectIdOrName=prj_123&teamId=team_456")
        );
        assert_eq!(
            request.query,
            [
                ("projectIdOrName".to_owned(), "prj_123".to_owned()),
                ("teamId".to_owned(), "team_456".to_owned())
            ]
        );
        assert_eq!(request.project_id_or_name.as_deref(), Some("prj_123"));
        assert_eq!(request.team_id.as_deref(), Some("team_456"));
        assert_eq!(request.slug, None);
        assert_eq!(request.bearer.as_deref(), Some("tok"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.json.as_ref(), Some(body));
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).ok().as_ref(),
            Some(body)
        );
    }
    let debug = format!("{:?}", requests[0]);
    assert!(!debug.contains("tok\""), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    assert_eq!(
        api.last_request().expect("last").route,
        Some(PurgeRoute::DangerouslyDeleteBySrcImages)
    );
    api.reset_requests();
    assert!(api.requests().is_empty());
    assert_eq!(api.request_count(), 0);
}

#[tokio::test]
async fn auth_project_and_team_are_checked_in_order() {
    let api = PurgeApi::builder()
        .token("tok")
        .project("prj_1")
        .team_id("team_1")
        .start()
        .await
        .expect("start");
    let path = |q: &str| format!("{}?{q}", PurgeRoute::InvalidateByTags.path());
    let body = json!({"tags": ["a"]});

    let (status, answer) = post(
        &api,
        &path("projectIdOrName=prj_1&teamId=team_1"),
        None,
        body.clone(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "unauthorized");
    let (status, answer) = post(
        &api,
        &path("projectIdOrName=prj_1&teamId=team_1"),
        Some("nope"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(answer["error"]["code"], "forbidden");
    let (status, answer) = post(&api, &path("teamId=team_1"), Some("tok"), body.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "bad_request");
    let (status, _) = post(
        &api,
        &path("projectIdOrName=&teamId=team_1"),
        Some("tok"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, answer) = post(
        &api,
        &path("projectIdOrName=other&teamId=team_1"),
        Some("tok"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"]["code"], "not_found");
    let (status, _) = post(
        &api,
        &path("projectIdOrName=prj_1"),
        Some("tok"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 403, "team required when configured");
    let (status, _) = post(
        &api,
        &path("projectIdOrName=prj_1&teamId=team_2"),
        Some("tok"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &api,
        &path("projectIdOrName=prj_1&teamId=team_1"),
        Some("tok"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        api.requests().len(),
        8,
        "rejected requests are recorded too"
    );
}

#[tokio::test]
async fn default_token_is_random_and_accepted() {
    let api = PurgeApi::start().await.expect("start");
    assert!(api.token().starts_with("vct_"));
    let other = PurgeApi::start().await.expect("start");
    assert_ne!(api.token(), other.token());
    let path = format!(
        "{}?projectIdOrName=p",
        PurgeRoute::InvalidateBySrcImages.path()
    );
    let (status, _) = post(&api, &path, Some(api.token()), json!({"srcImages": []})).await;
    assert_eq!(status, 200);
    let (status, _) = post(&api, &path, Some(other.token()), json!({"srcImages": []})).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn bad_bodies_paths_and_methods_are_refused() {
    let api = PurgeApi::builder()
        .token("tok")
        .start()
        .await
        .expect("start");
    let q = "?projectIdOrName=p";
    let tags = PurgeRoute::InvalidateByTags.path();
    let bad = [
        (tags, json!({})),
        (
            tags,
            json!({"tags": ["a"], "revalidationDeadlineSeconds": 5}),
        ),
        (tags, json!({"tags": ["a"], "target": "staging"})),
        (tags, json!({"tag": ["a"]})),
        (tags, json!(["a"])),
        (
            PurgeRoute::DangerouslyDeleteByTags.path(),
            json!({"tags": ["a"], "revalidationDeadlineSeconds": "30"}),
        ),
        (
            PurgeRoute::InvalidateBySrcImages.path(),
            json!({"srcImages": "/a.png"}),
        ),
        (
            PurgeRoute::InvalidateBySrcImages.path(),
            json!({"srcImages": ["/a.png"], "revalidationDeadlineSeconds": 1}),
        ),
        (
            PurgeRoute::DangerouslyDeleteBySrcImages.path(),
            json!({"tags": ["a"]}),
        ),
    ];
    for (path, body) in bad {
        let (status, answer) = post(&api, &format!("{path}{q}"), Some("tok"), body.clone()).await;
        assert_eq!(status, 400, "{path} {body}");
        assert_eq!(answer["error"]["code"], "bad_request");
    }

    let not_json = client()
        .post(format!("{}{tags}{q}", api.base_url()))
        .bearer_auth("tok")
        .header("content-type", "text/plain")
        .body(r#"{"tags":["a"]}"#)
        .send()
        .await
        .expect("answer");
    assert_eq!(not_json.status(), 400);

    let (status, _) = post(
        &api,
        &format!("/v1/edge-cache/invalidate-by-tag{q}"),
        Some("tok"),
        json!({"tags": ["a"]}),
    )
    .await;
    assert_eq!(status, 404);
    let get = client()
        .get(format!("{}{tags}{q}", api.base_url()))
        .bearer_auth("tok")
        .send()
        .await
        .expect("answer");
    assert_eq!(get.status(), 405);
    let recorded = api.requests();
    assert_eq!(recorded.len(), 12);
    assert_eq!(recorded[10].route, None);
    assert_eq!(recorded[11].method, reqwest::Method::GET);
}

#[tokio::test]
async fn shared_faults_apply() {
    let api = PurgeApi::builder()
        .token("tok")
        .start()
        .await
        .expect("start");
    let path = format!("{}?projectIdOrName=p", PurgeRoute::InvalidateByTags.path());
    api.faults().next(Endpoint::Purge, 1, Fault::Status(503));
    api.faults().next(Endpoint::Purge, 1, Fault::Drop);
    let (status, _) = post(&api, &path, Some("tok"), json!({"tags": "a"})).await;
    assert_eq!(status, 503);
    let dropped = client()
        .post(format!("{}{path}", api.base_url()))
        .bearer_auth("tok")
        .json(&json!({"tags": "a"}))
        .send()
        .await;
    assert!(dropped.is_err());
    let (status, _) = post(&api, &path, Some("tok"), json!({"tags": "a"})).await;
    assert_eq!(status, 200);
    assert_eq!(api.request_count(), 3);
}
