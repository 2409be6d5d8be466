//! Naming things on the command line: a person by username, external id or id; a group by
//! name or id; a device by serial number or id; a policy by name or id. Resolved through the
//! API, so the CLI needs no database.

use anyhow::Context;
use cc_client::Client;
use cc_domain::{Device, Group, Policy, User};
use uuid::Uuid;

use crate::exit::NotFound;

/// How many search hits are read looking for the exact match.
const SEARCH_LIMIT: usize = 1000;

/// The person `name` names: an id, else the username, else the external id.
///
/// # Errors
/// [`NotFound`] when nobody matches; API errors.
pub async fn user(client: &Client, name: &str) -> anyhow::Result<User> {
    if let Ok(id) = Uuid::parse_str(name) {
        return not_found_as(client.get_user(id).await, || no_such("person", name));
    }
    let hits = client
        .list_all::<User>("/users", &[("q", name)], Some(SEARCH_LIMIT))
        .await
        .with_context(|| format!("looking up {name}"))?
        .items;
    let by_username = hits.iter().position(|u| u.username == name);
    let by_external = || {
        hits.iter()
            .position(|u| u.external_id.as_deref() == Some(name))
    };
    by_username
        .or_else(by_external)
        .map(|i| hits[i].clone())
        .ok_or_else(|| no_such("person", name).into())
}

/// The group `name` names: an id or the group's name.
///
/// # Errors
/// [`NotFound`] when no group matches; API errors.
pub async fn group(client: &Client, name: &str) -> anyhow::Result<Group> {
    if let Ok(id) = Uuid::parse_str(name) {
        return not_found_as(client.get_group(id).await, || no_such("group", name));
    }
    client
        .list_all::<Group>("/groups", &[("q", name)], Some(SEARCH_LIMIT))
        .await?
        .items
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| no_such("group", name).into())
}

/// The device `name` names: an id or the serial number (any case).
///
/// # Errors
/// [`NotFound`] when no device matches; API errors.
pub async fn device(client: &Client, name: &str) -> anyhow::Result<Device> {
    if let Ok(id) = Uuid::parse_str(name) {
        return not_found_as(client.get_device(id).await, || no_such("device", name));
    }
    let serial = name.to_uppercase();
    client
        .list_all::<Device>("/devices", &[("q", name)], Some(SEARCH_LIMIT))
        .await?
        .items
        .into_iter()
        .find(|d| d.serial_number == serial || d.name.as_deref() == Some(name))
        .ok_or_else(|| no_such("device", name).into())
}

/// The policy `name` names: an id or the policy's name.
///
/// # Errors
/// [`NotFound`] when no policy matches; API errors.
pub async fn policy(client: &Client, name: &str) -> anyhow::Result<Policy> {
    if let Ok(id) = Uuid::parse_str(name) {
        return not_found_as(client.get_policy(id).await, || no_such("policy", name));
    }
    client
        .list_all::<Policy>("/policies", &[], None)
        .await?
        .items
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| no_such("policy", name).into())
}

fn no_such(what: &str, name: &str) -> NotFound {
    let how = match what {
        "person" => "username, external id or id",
        "device" => "serial number, name or id",
        _ => "name or id",
    };
    NotFound(format!("no {what} `{name}` (looked up by {how})"))
}

fn not_found_as<T>(
    r: cc_client::Result<T>,
    not_found: impl FnOnce() -> NotFound,
) -> anyhow::Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if e.status() == Some(404) => Err(not_found().into()),
        Err(e) => Err(e.into()),
    }
}
