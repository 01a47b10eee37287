//! `fermyon:spin/variables@2.0.0`: application variables, resolved like Spin does.
//!
//! A component reads its own variables, whose values are templates over the
//! application's variables (`"{{ admin_api_key }}"`). Each application variable comes
//! from the first provider that has it (the host's `--variable` values, then
//! `SPIN_VARIABLE_<NAME>` in the environment), else its default. Templates are resolved
//! on every `get`, as in Spin, so error messages and the timing of environment reads match.

use std::collections::{BTreeMap, HashMap};

use anyhow::bail;

use std::sync::Arc;

use wasmtime::component::{Accessor, HasData};

use super::engine::bindings::fermyon::spin::variables::{Error, Host};
use super::engine::bindings::spin::variables::variables as variables3;
use super::manifest::{App, Component};

/// One host's variable definitions and provided values.
pub struct Variables {
    component_id: String,
    /// Application variables and their defaults (`None` = required).
    app_variables: BTreeMap<String, Option<String>>,
    /// The component's variables as parsed templates.
    component_templates: HashMap<String, Template>,
    /// Values given to the host, like `spin up --variable`.
    provided: HashMap<String, String>,
}

impl Variables {
    /// Validates the app's variables against the provided values, failing like
    /// `spin up` does for an invalid name or template or an unresolvable required
    /// variable.
    pub fn new(
        app: &App,
        component: &Component,
        provided: &[(String, String)],
    ) -> anyhow::Result<Self> {
        for name in app.variables.keys() {
            validate_name(name).map_err(invalid_name_message)?;
        }
        let mut component_templates = HashMap::new();
        for (name, template) in &component.variables {
            validate_name(name).map_err(invalid_name_message)?;
            let template = Template::parse(template)?;
            if let Some(unknown) = template
                .variable_names()
                .find(|variable| !app.variables.contains_key(*variable))
            {
                bail!("invalid variable template: unknown variable {unknown:?}");
            }
            component_templates.insert(name.clone(), template);
        }
        let variables = Self {
            component_id: component.id.clone(),
            app_variables: app.variables.clone(),
            component_templates,
            provided: provided.iter().cloned().collect(),
        };
        variables.ensure_required_variables_resolvable()?;
        Ok(variables)
    }

    fn ensure_required_variables_resolvable(&self) -> anyhow::Result<()> {
        let unresolvable: Vec<String> = self
            .app_variables
            .iter()
            .filter(|(name, default)| {
                default.is_none() && matches!(self.provider_value(name), Ok(None))
            })
            // Spin lists the keys with their Debug form, `Key("name")`.
            .map(|(name, _)| format!("Key({name:?})"))
            .collect();
        if !unresolvable.is_empty() {
            bail!(
                "no provider resolved required variable(s): [{}]",
                unresolvable.join(", ")
            );
        }
        Ok(())
    }

    /// The component variable `name`, with its template resolved now.
    fn get(&self, name: &str) -> Result<String, Error> {
        validate_name(name).map_err(Error::InvalidName)?;
        let template = self.component_templates.get(name).ok_or_else(|| {
            Error::Undefined(format!("no variable for {:?}.{name:?}", self.component_id))
        })?;
        let mut value = String::new();
        for part in &template.parts {
            match part {
                TemplatePart::Literal(literal) => value.push_str(literal),
                TemplatePart::Variable(variable) => value.push_str(&self.resolve(variable)?),
            }
        }
        Ok(value)
    }

    /// `template` resolved over the application variables (not the component's), as
    /// Spin resolves an instance's `allowed_outbound_hosts`; the errors are Spin's.
    pub fn resolve_app_template(&self, template: &str) -> anyhow::Result<String> {
        let template = Template::parse(template)?;
        let mut value = String::new();
        for part in &template.parts {
            match part {
                TemplatePart::Literal(literal) => value.push_str(literal),
                TemplatePart::Variable(variable) => match self.resolve(variable) {
                    Ok(resolved) => value.push_str(&resolved),
                    Err(Error::InvalidName(name)) => bail!("invalid variable name: {name}"),
                    Err(Error::Provider(message)) => bail!("provider error: {message}"),
                    Err(Error::Undefined(message)) => bail!("undefined variable: {message}"),
                    Err(Error::Other(message)) => bail!("{message}"),
                },
            }
        }
        Ok(value)
    }

    /// An application variable's value: the first provider's, else the default.
    fn resolve(&self, name: &str) -> Result<String, Error> {
        if let Some(value) = self.provider_value(name).map_err(Error::Provider)? {
            return Ok(value);
        }
        match self.app_variables.get(name) {
            Some(Some(default)) => Ok(default.clone()),
            // Reachable when the environment variable that satisfied the start-up check
            // has since been removed.
            Some(None) => Err(Error::Provider(format!(
                "no provider resolved required variable {name:?}"
            ))),
            // Templates were checked against the application variables at start.
            None => Err(Error::InvalidName(name.to_owned())),
        }
    }

    /// The value from the providers, in Spin's order: `--variable`, then the environment.
    fn provider_value(&self, name: &str) -> Result<Option<String>, String> {
        if let Some(value) = self.provided.get(name) {
            return Ok(Some(value.clone()));
        }
        let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        match std::env::var(&env_name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(err) => Err(format!("failed to resolve env var {env_name}: {err}")),
        }
    }
}

/// How far a template resolves with the application variables' defaults alone.
pub enum Resolved {
    /// No template: the text as written.
    Literal,
    /// A template, resolved with the defaults.
    WithDefaults(String),
    /// A template over a variable with no default, or over an unknown one.
    NeedsProviders,
}

/// Resolves `template` over the application variables with their defaults only, as
/// Spin's loader does to check `allowed_outbound_hosts` before any provider is asked;
/// fails only when the template itself is malformed.
pub fn resolve_with_defaults(
    app_variables: &BTreeMap<String, Option<String>>,
    template: &str,
) -> anyhow::Result<Resolved> {
    let template = Template::parse(template)?;
    if template.variable_names().next().is_none() {
        return Ok(Resolved::Literal);
    }
    let mut value = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Literal(literal) => value.push_str(literal),
            TemplatePart::Variable(variable) => match app_variables.get(variable) {
                Some(Some(default)) => value.push_str(default),
                Some(None) | None => return Ok(Resolved::NeedsProviders),
            },
        }
    }
    Ok(Resolved::WithDefaults(value))
}

/// Spin's rules for variable names; the error text is Spin's `"<name>": <reason>`.
fn validate_name(name: &str) -> Result<(), String> {
    let reason = if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if let Some(invalid) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        Some(format!(
            "invalid character {invalid:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must start with a lowercase ASCII letter".to_owned())
    } else if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("must end with a lowercase ASCII letter or digit".to_owned())
    } else if name.contains("__") {
        Some("must not contain multiple consecutive underscores".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(format!("{name:?}: {reason}")),
        None => Ok(()),
    }
}

fn invalid_name_message(message: String) -> anyhow::Error {
    anyhow::anyhow!("invalid variable name: {message}")
}

/// A variable value template: literal text and `{{ variable }}` references.
struct Template {
    parts: Vec<TemplatePart>,
}

enum TemplatePart {
    Literal(String),
    Variable(String),
}

impl Template {
    fn parse(template: &str) -> anyhow::Result<Self> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(expression) = rest.strip_prefix("{{") {
                let Some((name, after)) = expression.split_once("}}") else {
                    bail!("invalid variable template: unmatched '{{{{' in template");
                };
                parts.push(TemplatePart::Variable(name.trim().to_owned()));
                rest = after;
            } else {
                let literal_end = rest.find("{{").unwrap_or(rest.len());
                parts.push(TemplatePart::Literal(rest[..literal_end].to_owned()));
                rest = &rest[literal_end..];
            }
        }
        Ok(Self { parts })
    }

    fn variable_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            TemplatePart::Variable(name) => Some(name.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }
}

impl Host for Arc<Variables> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(Variables::get(self, &name))
    }
}

/// Links `spin:variables/variables@3.0.0` (spin-sdk 6), whose `get` is asynchronous; it
/// resolves exactly like `fermyon:spin/variables@2.0.0`.
pub struct SpinVariables3;

impl HasData for SpinVariables3 {
    type Data<'a> = &'a mut Arc<Variables>;
}

impl variables3::Host for Arc<Variables> {}

impl variables3::HostWithStore for SpinVariables3 {
    async fn get<T>(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, variables3::Error>> {
        let variables = accessor.with(|mut access| access.get().clone());
        Ok(Variables::get(&variables, &name).map_err(|err| match err {
            Error::InvalidName(message) => variables3::Error::InvalidName(message),
            Error::Undefined(message) => variables3::Error::Undefined(message),
            Error::Provider(message) => variables3::Error::Provider(message),
            Error::Other(message) => variables3::Error::Other(message),
        }))
    }
}
