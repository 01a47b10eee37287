//! Domain types. Each is built only through a constructor that checks it ("parse, don't
//! validate"), so holding one means it is valid. Nothing here imports `spin_sdk`.

pub mod access_token;
pub mod api_key;
pub mod cursor;
pub mod encoding;
pub mod event;
pub mod integer;
pub mod money;
pub mod order;
pub mod page;
pub mod precondition;
pub mod principal;
pub mod product;
pub mod report;
pub mod reservation;
pub mod search;
pub mod stock;
pub mod text;
pub mod time;
pub mod webhook;
