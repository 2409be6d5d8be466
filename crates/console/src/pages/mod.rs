//! One module per page (or group of pages), each with its handlers and markup.

pub mod directory;
pub mod health;
pub mod login;
pub mod overview;
pub mod people;
