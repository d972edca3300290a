//! The AWS shared credentials and config files (`~/.aws/credentials`, `~/.aws/config`, or
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`): INI sections of `key = value` lines.
//!
//! The format is simple enough to read by hand: `[name]` (credentials file) or
//! `[profile name]` / `[default]` (config file) sections, `#` and `;` comments, and nested
//! sub-sections (an empty value followed by indented lines), which are skipped. A
//! profile's keys in the credentials file win over the same profile's in the config file,
//! as in the AWS SDKs.

use std::collections::HashMap;
use std::path::PathBuf;

/// One profile's settings.
pub type Profile = HashMap<String, String>;

/// The profiles of both files.
#[derive(Debug, Default, Clone)]
pub struct Profiles {
    profiles: HashMap<String, Profile>,
    /// The files read (for error messages).
    pub sources: Vec<PathBuf>,
}

impl Profiles {
    /// The named profile.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// Add (or replace) a profile.
    pub fn insert(&mut self, name: String, profile: Profile) {
        self.profiles.insert(name, profile);
    }

    /// Read both files; a missing file is an empty one.
    pub fn load() -> Profiles {
        let mut out = Profiles::default();
        // Config first, so the credentials file's values win.
        for (path, is_config) in [(config_path(), true), (credentials_path(), false)] {
            let Some(path) = path else { continue };
            if let Ok(text) = std::fs::read_to_string(&path) {
                for (name, settings) in parse(&text, is_config) {
                    out.profiles.entry(name).or_default().extend(settings);
                }
            }
            out.sources.push(path);
        }
        out
    }

    /// Where the files are looked for, for messages: `"~/.aws/credentials and ~/.aws/config"`.
    pub fn describe_sources(&self) -> String {
        let paths: Vec<String> = self
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if paths.is_empty() {
            "the AWS credentials and config files (no home directory is set)".to_owned()
        } else {
            paths.join(" and ")
        }
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
pub fn credentials_path() -> Option<PathBuf> {
    env_path("AWS_SHARED_CREDENTIALS_FILE")
        .or_else(|| Some(home()?.join(".aws").join("credentials")))
}

/// `AWS_CONFIG_FILE`, else `~/.aws/config`.
pub fn config_path() -> Option<PathBuf> {
    env_path("AWS_CONFIG_FILE").or_else(|| Some(home()?.join(".aws").join("config")))
}

/// Parse one file into profiles. In the config file, sections are `[default]` and
/// `[profile name]` (other section kinds, such as `[sso-session x]`, are skipped).
pub fn parse(text: &str, is_config: bool) -> HashMap<String, Profile> {
    let mut profiles: HashMap<String, Profile> = HashMap::new();
    let mut current: Option<String> = None;
    let mut in_subsection = false;
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let name = header.split(']').next().unwrap_or_default().trim();
            current = section_name(name, is_config);
            in_subsection = false;
            if let Some(name) = &current {
                profiles.entry(name.clone()).or_default();
            }
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if indented && in_subsection {
            continue;
        }
        let Some(name) = &current else { continue };
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = strip_comment(value.trim());
        in_subsection = value.is_empty();
        if !value.is_empty() {
            profiles
                .entry(name.clone())
                .or_default()
                .insert(key, value.to_owned());
        }
    }
    profiles
}

fn section_name(name: &str, is_config: bool) -> Option<String> {
    if !is_config {
        return Some(name.to_owned());
    }
    if name == "default" {
        return Some(name.to_owned());
    }
    name.strip_prefix("profile")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map(|rest| rest.trim().to_owned())
}

/// A value without an inline comment (` #` or ` ;` after whitespace).
fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if (*b == b'#' || *b == b';') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_config_files() {
        let creds = parse(
            "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key=secret/with+chars=\n\n[dev]\n aws_access_key_id = AKIDDEV ; inline\naws_secret_access_key = s2\naws_session_token = tok#en\n",
            false,
        );
        assert_eq!(creds["default"]["aws_access_key_id"], "AKIDDEFAULT");
        assert_eq!(
            creds["default"]["aws_secret_access_key"],
            "secret/with+chars="
        );
        assert_eq!(creds["dev"]["aws_access_key_id"], "AKIDDEV");
        // '#' not after whitespace is part of the value.
        assert_eq!(creds["dev"]["aws_session_token"], "tok#en");

        let config = parse(
            "[default]\nregion = eu-west-1\ns3 =\n  max_concurrent_requests = 20\noutput = json\n[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = default\n[sso-session corp]\nsso_region = us-east-1\n[profilex]\nregion = x\n",
            true,
        );
        assert_eq!(config["default"]["region"], "eu-west-1");
        assert_eq!(config["default"]["output"], "json");
        assert!(!config["default"].contains_key("max_concurrent_requests"));
        assert_eq!(config["ops"]["source_profile"], "default");
        assert!(!config.contains_key("sso-session corp"));
        assert!(!config.contains_key("corp"));
        assert!(!config.contains_key("x"));
    }
}
