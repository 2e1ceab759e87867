//! Where things are: the linked project, the home, data and Vercel CLI directories.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::files::{JsonFile, read_json_object};
use crate::env::Env;
use crate::error::{Error, LocalDevErrorKind};

const HOME: &str = "HOME";
const USERPROFILE: &str = "USERPROFILE";
const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
const APPDATA: &str = "APPDATA";
const LOCALAPPDATA: &str = "LOCALAPPDATA";

/// The project the token is minted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectIds {
    pub(crate) project_id: String,
    pub(crate) team_id: Option<String>,
}

/// Project and team from the options, filled in from `.vercel/project.json` (found by walking
/// up from `start`) when one is missing. With a project given, a missing or broken link is not
/// an error (there is just no team from it).
pub(crate) fn resolve_project(
    start: &Path,
    project: Option<&str>,
    team: Option<&str>,
) -> Result<ProjectIds, Error> {
    let given = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
    let (project, team) = (given(project), given(team));
    if let (Some(project_id), Some(team_id)) = (&project, &team) {
        return Ok(ProjectIds {
            project_id: project_id.clone(),
            team_id: Some(team_id.clone()),
        });
    }
    let linked = match read_project_json(start) {
        Ok(linked) => linked,
        Err(e) if project.is_some() => {
            tracing::debug!(error = %e, "local-dev refresh: no team from .vercel/project.json");
            (None, None, None)
        }
        Err(e) => return Err(e),
    };
    let (path, linked_project, linked_team) = linked;
    let project_id = project
        .or(linked_project)
        .ok_or_else(|| Error::local_dev(LocalDevErrorKind::NoProjectId { path }))?;
    Ok(ProjectIds {
        project_id,
        team_id: team.or(linked_team),
    })
}

type Linked = (Option<PathBuf>, Option<String>, Option<String>);

fn read_project_json(start: &Path) -> Result<Linked, Error> {
    let root = start
        .ancestors()
        .find(|dir| dir.join(".vercel").is_dir())
        .ok_or_else(|| {
            Error::local_dev(LocalDevErrorKind::NotLinked {
                start: start.to_path_buf(),
            })
        })?;
    let path = root.join(".vercel").join("project.json");
    let map = match read_json_object(&path) {
        JsonFile::Object(map) => map,
        JsonFile::Missing => {
            return Err(Error::local_dev(LocalDevErrorKind::ProjectFileMissing {
                path,
            }));
        }
        JsonFile::Invalid(e) => {
            let kind = LocalDevErrorKind::ProjectFileInvalid { path };
            return Err(match e {
                Some(e) => Error::local_dev_with(kind, e),
                None => Error::local_dev(kind),
            });
        }
    };
    let (project, team) = project_from_object(&map);
    Ok((Some(path), project, team))
}

/// `projectId` and `orgId` of a `project.json` object (empty or non-string values: `None`).
pub(crate) fn project_from_object(map: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let string = |key: &str| match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    (string("projectId"), string("orgId"))
}

/// `true` when `id` is a plausible Vercel id or name: `^[A-Za-z0-9][A-Za-z0-9._-]*$`. Checked
/// before an id becomes a file name, a URL segment or a command argument.
pub(crate) fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(crate) fn check_ids(ids: &ProjectIds) -> Result<(), Error> {
    let check = |what: &'static str, value: &str| {
        if is_valid_id(value) {
            Ok(())
        } else {
            Err(Error::local_dev(LocalDevErrorKind::InvalidId {
                what,
                value: value.to_owned(),
            }))
        }
    };
    check("project", &ids.project_id)?;
    if let Some(team) = &ids.team_id {
        check("team", team)?;
    }
    Ok(())
}

/// The home directory: the override, else `HOME` (`USERPROFILE`, then `HOME`, on Windows).
pub(crate) fn home_dir(env: &Env, home: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(home) = home {
        return Ok(home.to_path_buf());
    }
    let from_env = if cfg!(windows) {
        env.get_non_empty(USERPROFILE)
            .or_else(|| env.get_non_empty(HOME))
    } else {
        env.get_non_empty(HOME)
    };
    from_env
        .map(PathBuf::from)
        .ok_or_else(|| Error::local_dev(LocalDevErrorKind::NoHomeDir))
}

/// `XDG_DATA_HOME` when set to an absolute path (the XDG spec ignores relative ones).
fn xdg_data_home(env: &Env) -> Option<PathBuf> {
    env.get_non_empty(XDG_DATA_HOME)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// The user data directory: `$XDG_DATA_HOME`, else `~/.local/share` (Linux),
/// `~/Library/Application Support` (macOS), `%LOCALAPPDATA%` (Windows).
pub(crate) fn data_dir(env: &Env, home: &Path) -> PathBuf {
    if let Some(xdg) = xdg_data_home(env) {
        return xdg;
    }
    if cfg!(windows) {
        return env
            .get_non_empty(LOCALAPPDATA)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("AppData").join("Local"));
    }
    if cfg!(target_os = "macos") {
        return home.join("Library").join("Application Support");
    }
    home.join(".local").join("share")
}

/// The Vercel CLI's config directory: the first existing of `$XDG_DATA_HOME/com.vercel.cli`,
/// the platform's data directory for `com.vercel.cli` (`~/.local/share/com.vercel.cli`,
/// `~/Library/Application Support/com.vercel.cli`, `%APPDATA%\com.vercel.cli\Data`), the Windows
/// legacy `%APPDATA%\xdg.data\com.vercel.cli`, and `~/.now`; else the first of them.
pub(crate) fn cli_dir(env: &Env, home: &Path) -> PathBuf {
    let mut candidates = Vec::new();
    let xdg = xdg_data_home(env);
    if let Some(xdg) = &xdg {
        candidates.push(xdg.join("com.vercel.cli"));
    }
    if cfg!(windows) {
        let appdata = env
            .get_non_empty(APPDATA)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("AppData").join("Roaming"));
        candidates.push(appdata.join("com.vercel.cli").join("Data"));
        if xdg.is_none() {
            candidates.push(appdata.join("xdg.data").join("com.vercel.cli"));
        }
    } else if cfg!(target_os = "macos") {
        candidates.push(
            home.join("Library")
                .join("Application Support")
                .join("com.vercel.cli"),
        );
    } else {
        candidates.push(home.join(".local").join("share").join("com.vercel.cli"));
    }
    candidates.push(home.join(".now"));
    let first = candidates[0].clone();
    candidates
        .into_iter()
        .find(|dir| dir.is_dir())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for ok in ["prj_abc", "a", "my-project.v2", "team_X9"] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", "-rf", ".hidden", "../x", "a/b", "a b", "x;y", "é"] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn dirs_follow_xdg_then_home() {
        let home = Path::new("/home/u");
        let env = Env::from_pairs([(XDG_DATA_HOME, "/xdg")]);
        assert_eq!(data_dir(&env, home), Path::new("/xdg"));
        let relative = Env::from_pairs([(XDG_DATA_HOME, "rel")]);
        assert_eq!(data_dir(&relative, home), Path::new("/home/u/.local/share"));
        // Nothing exists: the first candidate.
        assert_eq!(cli_dir(&env, home), Path::new("/xdg/com.vercel.cli"));
        let none = Env::from_pairs::<&str, &str>([]);
        assert_eq!(
            cli_dir(&none, home),
            Path::new("/home/u/.local/share/com.vercel.cli")
        );
        assert!(home_dir(&none, None).is_err());
        assert_eq!(
            home_dir(&Env::from_pairs([(HOME, "/h")]), None).expect("home"),
            Path::new("/h")
        );
    }

    #[test]
    fn legacy_now_dir_is_used_when_it_is_the_only_one() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(home.path().join(".now")).expect("mkdir");
        let env = Env::from_pairs::<&str, &str>([]);
        assert_eq!(cli_dir(&env, home.path()), home.path().join(".now"));
    }
}
