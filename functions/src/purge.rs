//! Purging Vercel's caches (CDN, Runtime Cache, Data Cache) by tag or by source image, over the
//! Vercel REST API.
//!
//! `@vercel/functions` purges through a platform hook that only Node functions get. Rust
//! functions call the public REST API instead, with a token:
//!
//! | function | request |
//! |---|---|
//! | [`invalidate_by_tag`] | `POST /v1/edge-cache/invalidate-by-tags` `{"tags": [..], "target"?}` |
//! | [`dangerously_delete_by_tag`] | `POST /v1/edge-cache/dangerously-delete-by-tags` `{"tags": [..], "target"?, "revalidationDeadlineSeconds"?}` |
//! | [`invalidate_by_src_image`] | `POST /v1/edge-cache/invalidate-by-src-images` `{"srcImages": [..]}` |
//! | [`dangerously_delete_by_src_image`] | `POST /v1/edge-cache/dangerously-delete-by-src-images` `{"srcImages": [..], "revalidationDeadlineSeconds"?}` |
//!
//! each with the query `projectIdOrName=<project>[&teamId=<team>]` and
//! `Authorization: Bearer <token>`.
//!
//! # Where the settings come from
//! - project: [`PurgeOptions::project`], else `VERCEL_PROJECT_ID`, else `projectId` of the
//!   nearest `.vercel/project.json` (from [`PurgeOptions::start_dir`], default the current
//!   directory, upwards); none is [`PurgeError::MissingProject`];
//! - team: [`PurgeOptions::team`], else `VERCEL_ORG_ID`, else `orgId` of that file; none sends
//!   no `teamId` (a personal account);
//! - token: [`PurgeOptions::token`], else `VERCEL_TOKEN`, else (feature `local-dev`, not on
//!   Vercel) the Vercel CLI's login (`vercel login`); none is [`PurgeError::MissingToken`];
//! - API base: [`PurgeOptions::api_url`], else `VERCEL_OIDC_API_URL`, else
//!   `https://api.vercel.com` (https, or http on a loopback host only: the token goes there).
//!
//! # Environment variables
//! | variable | required | meaning |
//! |---|---|---|
//! | `VERCEL_PROJECT_ID` | optional | the project (id or name) |
//! | `VERCEL_ORG_ID` | optional | the team id |
//! | `VERCEL_TOKEN` | optional | a Vercel access token allowed to purge the project |
//! | `VERCEL` | optional | `1` on Vercel: the CLI login is not looked for |
//! | `VERCEL_OIDC_API_URL` | optional | the API base URL |
//! | `VERCEL_OIDC_CA_FILE` | optional | extra PEM trust roots |

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use vercel_oidc::{Env, OidcConfig};

use crate::error::PurgeError;

const PROJECT_ENV: &str = "VERCEL_PROJECT_ID";
const TEAM_ENV: &str = "VERCEL_ORG_ID";
const TOKEN_ENV: &str = "VERCEL_TOKEN";
const API_URL_ENV: &str = "VERCEL_OIDC_API_URL";
/// The Vercel REST API.
pub const DEFAULT_API_URL: &str = "https://api.vercel.com";
/// The longest source image URL the API takes.
pub const MAX_SRC_IMAGE_LEN: usize = 8192;
/// How long one purge call may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest `.vercel/project.json` read.
const PROJECT_FILE_MAX: u64 = 1024 * 1024;

/// Which deployments' cache a tag purge applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PurgeTarget {
    /// Production deployments.
    Production,
    /// Preview deployments.
    Preview,
}

/// Settings of a purge call; every field has a default (see the [module docs](self)).
///
/// `Debug` never shows the token.
#[derive(Clone, Default)]
pub struct PurgeOptions {
    project: Option<String>,
    team: Option<String>,
    token: Option<SecretString>,
    api_url: Option<String>,
    target: Option<PurgeTarget>,
    revalidation_deadline_seconds: Option<u64>,
    start_dir: Option<PathBuf>,
    config: OidcConfig,
}

impl fmt::Debug for PurgeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PurgeOptions")
            .field("project", &self.project)
            .field("team", &self.team)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("api_url", &self.api_url)
            .field("target", &self.target)
            .field(
                "revalidation_deadline_seconds",
                &self.revalidation_deadline_seconds,
            )
            .field("start_dir", &self.start_dir)
            .finish_non_exhaustive()
    }
}

impl PurgeOptions {
    /// The defaults.
    /// ```
    /// let options = vercel_functions::PurgeOptions::new();
    /// assert!(format!("{options:?}").contains("project: None"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The project id or name. Defaults to `VERCEL_PROJECT_ID`, else `.vercel/project.json`.
    /// ```
    /// let options = vercel_functions::PurgeOptions::new().project("prj_123");
    /// assert!(format!("{options:?}").contains("prj_123"));
    /// ```
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The team id. Defaults to `VERCEL_ORG_ID`, else `.vercel/project.json`, else none.
    /// ```
    /// let options = vercel_functions::PurgeOptions::new().team("team_123");
    /// assert!(format!("{options:?}").contains("team_123"));
    /// ```
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// The Vercel access token. Defaults to `VERCEL_TOKEN`, else (local development) the
    /// Vercel CLI's login.
    /// ```
    /// let options = vercel_functions::PurgeOptions::new().token("vercel-access-token");
    /// // Kept secret: never in Debug output (nor in errors or logs).
    /// assert!(!format!("{options:?}").contains("vercel-access-token"));
    /// ```
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(SecretString::from(token.into()));
        self
    }

    /// The API base URL. Defaults to `VERCEL_OIDC_API_URL`, else `https://api.vercel.com`.
    /// ```
    /// // A test's purge API emulator (https, or http on a loopback host).
    /// let options = vercel_functions::PurgeOptions::new().api_url("http://127.0.0.1:8080");
    /// assert!(format!("{options:?}").contains("127.0.0.1:8080"));
    /// ```
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// Purge only production or only preview deployments (tag purges only). Defaults to
    /// both.
    /// ```
    /// use vercel_functions::{PurgeOptions, PurgeTarget};
    /// let options = PurgeOptions::new().target(PurgeTarget::Production);
    /// assert!(format!("{options:?}").contains("Production"));
    /// ```
    pub fn target(mut self, target: PurgeTarget) -> Self {
        self.target = Some(target);
        self
    }

    /// For the `dangerously_delete_*` calls: how long stale content may still be served
    /// while it is revalidated. Defaults to none (0: deleted at once). Ignored by the
    /// `invalidate_*` calls.
    /// ```
    /// let options = vercel_functions::PurgeOptions::new().revalidation_deadline_seconds(60);
    /// assert!(format!("{options:?}").contains("Some(60)"));
    /// ```
    pub fn revalidation_deadline_seconds(mut self, seconds: u64) -> Self {
        self.revalidation_deadline_seconds = Some(seconds);
        self
    }

    /// Where the search for `.vercel/project.json` starts. Defaults to the current directory.
    /// ```
    /// let options = vercel_functions::PurgeOptions::new().start_dir("/srv/app");
    /// assert!(format!("{options:?}").contains("/srv/app"));
    /// ```
    pub fn start_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.start_dir = Some(dir.into());
        self
    }

    /// The shared settings: where env vars are read, extra trust roots, the HTTP client.
    /// ```
    /// use vercel_oidc::{Env, OidcConfig};
    /// // Settings from this env instead of the process's (tests).
    /// let config = OidcConfig::new().with_env(Env::from_pairs([("VERCEL_PROJECT_ID", "prj_123")]));
    /// let options = vercel_functions::PurgeOptions::new().configure(&config);
    /// # let _ = options;
    /// ```
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }
}

/// Marks every cached response and Runtime Cache item carrying any of `tags` as stale: the
/// next request gets the stale content while it is revalidated in the background.
///
/// ```no_run
/// use vercel_functions::{PurgeOptions, invalidate_by_tag};
/// # async fn f() -> Result<(), vercel_functions::PurgeError> {
/// invalidate_by_tag(&["products"], &PurgeOptions::new()).await?;
/// # Ok(()) }
/// ```
pub async fn invalidate_by_tag<S: AsRef<str>>(
    tags: &[S],
    options: &PurgeOptions,
) -> Result<(), PurgeError> {
    let body = TagsBody {
        tags: checked_tags(tags)?,
        target: options.target.map(target_name),
        revalidation_deadline_seconds: None,
    };
    send("invalidate-by-tags", &body, options).await
}

/// Marks every cached item carrying any of `tags` as deleted: the next request waits for the
/// origin (after [`PurgeOptions::revalidation_deadline_seconds`], if set). Prefer
/// [`invalidate_by_tag`]: a deleted popular tag can send a stampede of requests to the origin.
///
/// ```no_run
/// use vercel_functions::{PurgeOptions, dangerously_delete_by_tag};
/// # async fn f() -> Result<(), vercel_functions::PurgeError> {
/// let options = PurgeOptions::new().revalidation_deadline_seconds(60);
/// dangerously_delete_by_tag(&["products", "home"], &options).await?;
/// # Ok(()) }
/// ```
pub async fn dangerously_delete_by_tag<S: AsRef<str>>(
    tags: &[S],
    options: &PurgeOptions,
) -> Result<(), PurgeError> {
    let body = TagsBody {
        tags: checked_tags(tags)?,
        target: options.target.map(target_name),
        revalidation_deadline_seconds: options.revalidation_deadline_seconds,
    };
    send("dangerously-delete-by-tags", &body, options).await
}

/// Marks the optimized images made from each source image URL as stale (revalidated in the
/// background on the next request).
///
/// ```no_run
/// use vercel_functions::{PurgeOptions, invalidate_by_src_image};
/// # async fn f() -> Result<(), vercel_functions::PurgeError> {
/// invalidate_by_src_image(&["/images/hero.png"], &PurgeOptions::new()).await?;
/// # Ok(()) }
/// ```
pub async fn invalidate_by_src_image<S: AsRef<str>>(
    src_images: &[S],
    options: &PurgeOptions,
) -> Result<(), PurgeError> {
    let body = ImagesBody {
        src_images: checked_images(src_images)?,
        revalidation_deadline_seconds: None,
    };
    send("invalidate-by-src-images", &body, options).await
}

/// Marks the optimized images made from each source image URL as deleted (the next request
/// waits for a new transformation). Prefer [`invalidate_by_src_image`].
///
/// ```no_run
/// use vercel_functions::{PurgeOptions, dangerously_delete_by_src_image};
/// # async fn f() -> Result<(), vercel_functions::PurgeError> {
/// dangerously_delete_by_src_image(&["https://cdn.example.com/a.jpg"], &PurgeOptions::new()).await?;
/// # Ok(()) }
/// ```
pub async fn dangerously_delete_by_src_image<S: AsRef<str>>(
    src_images: &[S],
    options: &PurgeOptions,
) -> Result<(), PurgeError> {
    let body = ImagesBody {
        src_images: checked_images(src_images)?,
        revalidation_deadline_seconds: options.revalidation_deadline_seconds,
    };
    send("dangerously-delete-by-src-images", &body, options).await
}

#[derive(Serialize)]
struct TagsBody<'a> {
    tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'static str>,
    #[serde(
        rename = "revalidationDeadlineSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    revalidation_deadline_seconds: Option<u64>,
}

#[derive(Serialize)]
struct ImagesBody<'a> {
    #[serde(rename = "srcImages")]
    src_images: Vec<&'a str>,
    #[serde(
        rename = "revalidationDeadlineSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    revalidation_deadline_seconds: Option<u64>,
}

fn target_name(target: PurgeTarget) -> &'static str {
    match target {
        PurgeTarget::Production => "production",
        PurgeTarget::Preview => "preview",
    }
}

fn invalid(reason: impl Into<String>) -> PurgeError {
    PurgeError::InvalidInput {
        reason: reason.into(),
    }
}

fn checked_tags<S: AsRef<str>>(tags: &[S]) -> Result<Vec<&str>, PurgeError> {
    if tags.is_empty() {
        return Err(invalid("no tags given"));
    }
    tags.iter()
        .map(|t| {
            let t = t.as_ref();
            crate::tags::check_tag(t)
                .map(|()| t)
                .map_err(|e| invalid(e.to_string()))
        })
        .collect()
}

fn checked_images<S: AsRef<str>>(images: &[S]) -> Result<Vec<&str>, PurgeError> {
    if images.is_empty() {
        return Err(invalid("no source images given"));
    }
    images
        .iter()
        .map(|i| match i.as_ref() {
            "" => Err(invalid("a source image URL is empty")),
            i if i.len() > MAX_SRC_IMAGE_LEN => Err(invalid(format!(
                "a source image URL is {} bytes long, more than the limit of {MAX_SRC_IMAGE_LEN}",
                i.len()
            ))),
            i => Ok(i),
        })
        .collect()
}

/// The project and team, resolved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) project: String,
    pub(crate) team: Option<String>,
}

pub(crate) fn resolve_target(options: &PurgeOptions) -> Result<Target, PurgeError> {
    let env = options.config.env();
    let mut project = options
        .project
        .clone()
        .or_else(|| env.get_non_empty(PROJECT_ENV));
    let mut team = options.team.clone().or_else(|| env.get_non_empty(TEAM_ENV));
    if project.is_none() || team.is_none() {
        let start = match &options.start_dir {
            Some(dir) => Some(dir.clone()),
            None => std::env::current_dir().ok(),
        };
        if let Some((file_project, file_team)) = start
            .as_deref()
            .map(read_project_file)
            .transpose()?
            .flatten()
        {
            project = project.or(file_project);
            team = team.or(file_team);
        }
    }
    let project = project
        .filter(|p| !p.is_empty())
        .ok_or(PurgeError::MissingProject)?;
    Ok(Target {
        project,
        team: team.filter(|t| !t.is_empty()),
    })
}

/// `projectId` and `orgId` of a `.vercel/project.json`.
type ProjectFile = (Option<String>, Option<String>);

/// `projectId` and `orgId` of the nearest `.vercel/project.json` from `start` up, if any.
fn read_project_file(start: &Path) -> Result<Option<ProjectFile>, PurgeError> {
    let Some(path) = start
        .ancestors()
        .map(|dir| dir.join(".vercel").join("project.json"))
        .find(|p| p.exists())
    else {
        return Ok(None);
    };
    let unusable = || PurgeError::InvalidConfiguration {
        message: format!("{} is not a readable JSON object", path.display()),
    };
    let meta = std::fs::metadata(&path).map_err(|_| unusable())?;
    if !meta.is_file() || meta.len() > PROJECT_FILE_MAX {
        return Err(unusable());
    }
    let bytes = std::fs::read(&path).map_err(|_| unusable())?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| unusable())?;
    let field = |name: &str| {
        map.get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(Some((field("projectId"), field("orgId"))))
}

async fn resolve_token(options: &PurgeOptions) -> Result<SecretString, PurgeError> {
    if let Some(token) = &options.token {
        return Ok(token.clone());
    }
    let env = options.config.env();
    if let Some(token) = env.get_non_empty(TOKEN_ENV) {
        return Ok(SecretString::from(token));
    }
    cli_login(env).await
}

#[cfg(feature = "local-dev")]
async fn cli_login(env: &Env) -> Result<SecretString, PurgeError> {
    if env.get("VERCEL").as_deref() == Some("1") {
        return Err(PurgeError::MissingToken {
            local_dev: false,
            cli: None,
        });
    }
    vercel_oidc::local_dev::LocalDevRefresher::default()
        .cli_login_token(env)
        .await
        .map_err(|e| PurgeError::MissingToken {
            local_dev: true,
            cli: Some(e),
        })
}

#[cfg(not(feature = "local-dev"))]
async fn cli_login(_env: &Env) -> Result<SecretString, PurgeError> {
    Err(PurgeError::MissingToken {
        local_dev: false,
        cli: None,
    })
}

fn api_base(options: &PurgeOptions) -> Result<String, PurgeError> {
    let (setting, base) = match &options.api_url {
        Some(url) => ("PurgeOptions::api_url", url.clone()),
        None => match options.config.env().get_non_empty(API_URL_ENV) {
            Some(url) => (API_URL_ENV, url),
            None => return Ok(DEFAULT_API_URL.to_owned()),
        },
    };
    vercel_oidc::check_endpoint_url(&base).map_err(|e| PurgeError::InvalidConfiguration {
        message: format!("{setting} {:?}: {}", e.redacted_url(), e.reason()),
    })?;
    Ok(base.trim_end_matches('/').to_owned())
}

fn client(config: &OidcConfig) -> Result<reqwest::Client, PurgeError> {
    if let Some(client) = config.custom_http_client() {
        return Ok(client.clone());
    }
    let roots = config
        .extra_roots()
        .map_err(|e| PurgeError::InvalidConfiguration {
            message: e.to_string(),
        })?;
    vercel_oidc::internal::http_client(roots.as_ref(), TIMEOUT).map_err(|e| {
        PurgeError::InvalidConfiguration {
            message: e.to_string(),
        }
    })
}

async fn send<B: Serialize>(
    endpoint: &'static str,
    body: &B,
    options: &PurgeOptions,
) -> Result<(), PurgeError> {
    let target = resolve_target(options)?;
    let base = api_base(options)?;
    let token = resolve_token(options).await?;
    let mut url =
        reqwest::Url::parse(&format!("{base}/v1/edge-cache/{endpoint}")).map_err(|_| {
            PurgeError::InvalidConfiguration {
                message: "the API base URL does not form a URL".into(),
            }
        })?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("projectIdOrName", &target.project);
        if let Some(team) = &target.team {
            query.append_pair("teamId", team);
        }
    }
    let mut bearer = http::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
        .map_err(|_| PurgeError::InvalidConfiguration {
            message: "the Vercel API token is not a valid header value".into(),
        })?;
    bearer.set_sensitive(true);
    let span = tracing::debug_span!("vercel_functions.purge", endpoint, project = %target.project);
    let _entered = span.enter();
    tracing::debug!("purge request");
    drop(_entered);
    let response = client(&options.config)?
        .post(url)
        .header(http::header::AUTHORIZATION, bearer)
        .json(body)
        .send()
        .await
        .map_err(|e| PurgeError::Transport(Arc::new(e.without_url())))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(PurgeError::Status {
            status: status.as_u16(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(env: &[(&str, &str)]) -> PurgeOptions {
        let dir = std::env::temp_dir().join("vercel-functions-no-project-here");
        PurgeOptions::new()
            .start_dir(dir)
            .configure(&OidcConfig::new().with_env(Env::from_pairs(env.iter().copied())))
    }

    #[test]
    fn project_and_team_explicit_then_env_then_file() {
        let t = resolve_target(&options(&[
            (PROJECT_ENV, "prj_env"),
            (TEAM_ENV, "team_env"),
        ]))
        .expect("env");
        assert_eq!(
            t,
            Target {
                project: "prj_env".into(),
                team: Some("team_env".into())
            }
        );
        let t = resolve_target(
            &options(&[(PROJECT_ENV, "prj_env")])
                .project("prj_x")
                .team("team_x"),
        )
        .expect("explicit");
        assert_eq!(
            t,
            Target {
                project: "prj_x".into(),
                team: Some("team_x".into())
            }
        );
        assert!(matches!(
            resolve_target(&options(&[])),
            Err(PurgeError::MissingProject)
        ));

        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".vercel")).expect("mkdir");
        std::fs::write(
            dir.path().join(".vercel/project.json"),
            r#"{"projectId":"prj_file","orgId":"team_file"}"#,
        )
        .expect("write");
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).expect("mkdir");
        let file =
            |env: &[(&str, &str)]| resolve_target(&options(env).start_dir(&nested)).expect("file");
        assert_eq!(
            file(&[]),
            Target {
                project: "prj_file".into(),
                team: Some("team_file".into())
            }
        );
        assert_eq!(
            file(&[(PROJECT_ENV, "prj_env")]),
            Target {
                project: "prj_env".into(),
                team: Some("team_file".into())
            }
        );
        std::fs::write(dir.path().join(".vercel/project.json"), "[]").expect("write");
        let e = resolve_target(&options(&[]).start_dir(&nested)).expect_err("invalid");
        assert!(matches!(e, PurgeError::InvalidConfiguration { .. }));
        assert!(e.to_string().contains("project.json"), "{e}");
    }

    #[test]
    fn api_base_policy() {
        assert_eq!(api_base(&options(&[])).expect("default"), DEFAULT_API_URL);
        assert_eq!(
            api_base(&options(&[(API_URL_ENV, "http://127.0.0.1:9/")])).expect("loopback"),
            "http://127.0.0.1:9"
        );
        let e = api_base(&options(&[]).api_url("http://api.example.com")).expect_err("plain http");
        assert!(e.to_string().contains("PurgeOptions::api_url"), "{e}");
    }

    #[test]
    fn inputs_are_checked() {
        assert!(matches!(
            checked_tags::<&str>(&[]),
            Err(PurgeError::InvalidInput { .. })
        ));
        assert!(checked_tags(&["a", ""]).is_err());
        assert!(checked_tags(&["x".repeat(257)]).is_err());
        assert_eq!(checked_tags(&["a", "b"]).expect("ok"), ["a", "b"]);
        assert!(checked_images::<&str>(&[]).is_err());
        assert!(checked_images(&["x".repeat(MAX_SRC_IMAGE_LEN + 1)]).is_err());
        assert!(checked_images(&["x".repeat(MAX_SRC_IMAGE_LEN)]).is_ok());
    }

    #[test]
    fn debug_hides_the_token() {
        let o = PurgeOptions::new().token("vercel_tok_s3cr3t").project("p");
        let text = format!("{o:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains(r#"token: Some("[redacted]")"#), "{text}");
    }

    #[tokio::test]
    async fn missing_token_on_vercel_names_what_to_set() {
        let e = resolve_token(&options(&[("VERCEL", "1")]))
            .await
            .expect_err("none");
        assert!(matches!(
            e,
            PurgeError::MissingToken {
                local_dev: false,
                cli: None
            }
        ));
        #[cfg(feature = "local-dev")]
        {
            let dir = tempfile::tempdir().expect("tempdir");
            let home = dir.path().to_str().expect("utf8");
            let e = resolve_token(&options(&[("HOME", home)]))
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
        }
        let t = resolve_token(&options(&[(TOKEN_ENV, "from-env")]))
            .await
            .expect("env");
        assert_eq!(t.expose_secret(), "from-env");
    }
}
