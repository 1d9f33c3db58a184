//! How the Porten agent is started and recognised: the agent Porten's desktop app runs is
//! adopted, never doubled.

use std::path::PathBuf;

use crate::settings::Settings;
use crate::supervise::spec::{AdoptRule, Env, Finder, SupervisorSpec};
use crate::supervise::{locate, LocateError, ServiceKind};

impl SupervisorSpec {
    /// The Porten agent with the caller's environment (e.g. `PORTEN_ENGINE=openai`, the
    /// advertised budget and models) and arguments; adopts a running `porten`, or the agent
    /// Porten's desktop app runs (see `porten::app`): never a second agent with the same key.
    pub fn porten(settings: &Settings, env: Env, args: Vec<String>) -> Result<Self, LocateError> {
        let rules = crate::porten::app::AppRules::from_settings(settings);
        let program = match locate(ServiceKind::Porten, settings) {
            Ok(program) => program,
            // A Mac with only Porten's app: its bundled CLI if it has one, else nothing to
            // start — but its running agent is still adopted (and the reason kept if it stops).
            Err(reason) => match crate::porten::app::bundled_cli(&rules) {
                Some(program) => program,
                None if crate::porten::app::find_app_agent(&rules).is_some() => PathBuf::from("porten"),
                None => return Err(reason),
            },
        };
        let mut spec = Self::new("porten", program);
        spec.env = env;
        spec.args = args;
        spec.adopt = Self::porten_adopt_rule(settings);
        Ok(spec)
    }

    /// How a running agent is recognised: Porten's app's, or any `porten`.
    pub fn porten_adopt_rule(settings: &Settings) -> AdoptRule {
        let rules = crate::porten::app::AppRules::from_settings(settings);
        AdoptRule {
            process_name: Some(ServiceKind::Porten.program().to_owned()),
            pid_file: None,
            finder: Some(Finder::new(move || {
                crate::porten::app::find_app_agent(&rules).map(|app| app.pid)
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::spec::test_executable as executable;
    use crate::supervise::EnvValue;

    #[test]
    fn porten_spec_takes_the_callers_env_and_a_missing_agent_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            porten_path: Some(executable(dir.path(), "porten")),
            ..Settings::default()
        };
        let env = Env::from([("PORTEN_ENGINE".to_owned(), EnvValue::from("openai"))]);
        let spec = SupervisorSpec::porten(&settings, env.clone(), vec!["serve".into()]).unwrap();
        assert_eq!(spec.env, env);
        assert_eq!(spec.args, vec!["serve"]);
        let missing = Settings {
            porten_path: Some(dir.path().join("nope")),
            ..Settings::default()
        };
        assert!(SupervisorSpec::porten(&missing, Env::new(), Vec::new()).is_err());
    }
}
