pub mod google;

/// A person the generated mailbox corresponds with (a lead of the Smartlead world).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
}
