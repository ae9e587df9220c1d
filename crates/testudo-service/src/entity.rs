//! The sea-orm entity of the built-in users table, `testudo_users`.

/// `testudo_users`: one row per user (created by `testudo-migrations`).
pub mod user {
    use sea_orm::entity::prelude::*;

    /// A row of `testudo_users`. `Debug` leaves the password hash out (an offline-crackable
    /// secret has no place in logs).
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testudo_users")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Normalised (trimmed, lower-cased) email address; unique.
        #[sea_orm(unique)]
        pub email: String,
        /// The password hash, or an unusable sentinel (`!...`, or empty).
        pub password: String,
        /// Last successful login.
        pub last_login: Option<DateTimeUtc>,
        /// Whether the user may log in.
        pub is_active: bool,
        /// Whether the email address has been verified.
        pub is_verified: bool,
        /// Application-defined join time (not set by testudo).
        pub joined_at: Option<DateTimeUtc>,
        /// Row creation time.
        pub created_at: DateTimeUtc,
        /// Last modification time.
        pub updated_at: DateTimeUtc,
        /// The credential version: incremented with every password change (migration 8).
        pub credential_version: i64,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Model")
                .field("id", &self.id)
                .field("email", &self.email)
                .field("password", &"[REDACTED]")
                .field("last_login", &self.last_login)
                .field("is_active", &self.is_active)
                .field("is_verified", &self.is_verified)
                .field("joined_at", &self.joined_at)
                .field("created_at", &self.created_at)
                .field("updated_at", &self.updated_at)
                .field("credential_version", &self.credential_version)
                .finish()
        }
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `testudo_verification_codes`: the pending emailed verification code of each user
/// (migration 14).
pub mod code {
    use sea_orm::entity::prelude::*;

    /// A row of `testudo_verification_codes`. `Debug` leaves the digest out.
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testudo_verification_codes")]
    pub struct Model {
        /// The user the code was sent to (one pending code per user).
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// The address it was sent to: the code verifies that address only.
        pub email: String,
        /// Keyed MAC of the user, the address and the code (never the code itself).
        pub digest: String,
        /// Wrong tries so far.
        pub attempts: i32,
        /// When the code stops being accepted.
        pub expires_at: DateTimeUtc,
        /// When it was sent.
        pub created_at: DateTimeUtc,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Model")
                .field("user_id", &self.user_id)
                .field("email", &self.email)
                .field("digest", &"[REDACTED]")
                .field("attempts", &self.attempts)
                .field("expires_at", &self.expires_at)
                .field("created_at", &self.created_at)
                .finish()
        }
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `testudo_totp_factors`: each user's TOTP factor (migration 16).
pub mod totp_factor {
    use sea_orm::entity::prelude::*;

    /// A row of `testudo_totp_factors`. `Debug` leaves the sealed secret out.
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testudo_totp_factors")]
    pub struct Model {
        /// The user (one factor per user).
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// The shared secret, sealed (XChaCha20-Poly1305, bound to the user id).
        pub secret: String,
        /// `SHA1`, `SHA256` or `SHA512`.
        pub algorithm: String,
        /// Digits of a code.
        pub digits: i32,
        /// The last step whose code was accepted (0: none).
        pub last_step: i64,
        /// When the first code confirmed the factor (`None`: enrolment pending).
        pub confirmed_at: Option<DateTimeUtc>,
        /// When the enrolment started.
        pub created_at: DateTimeUtc,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Model")
                .field("user_id", &self.user_id)
                .field("secret", &"[REDACTED]")
                .field("algorithm", &self.algorithm)
                .field("digits", &self.digits)
                .field("last_step", &self.last_step)
                .field("confirmed_at", &self.confirmed_at)
                .field("created_at", &self.created_at)
                .finish()
        }
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `testudo_recovery_codes`: the unused recovery codes (migration 16).
pub mod recovery_code {
    use sea_orm::entity::prelude::*;

    /// A row of `testudo_recovery_codes`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testudo_recovery_codes")]
    pub struct Model {
        /// Whose code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// Keyed HMAC of the user id and the code (never the code).
        #[sea_orm(primary_key, auto_increment = false)]
        pub digest: String,
        /// When it was made.
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `testudo_login_challenges`: password logins waiting for their second factor (migration 16).
pub mod login_challenge {
    use sea_orm::entity::prelude::*;

    /// A row of `testudo_login_challenges`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testudo_login_challenges")]
    pub struct Model {
        /// Keyed HMAC of the challenge handed to the client (never the challenge).
        #[sea_orm(primary_key, auto_increment = false)]
        pub digest: String,
        /// Who logged in.
        pub user_id: String,
        /// The user's credential version at the password check.
        pub credential_version: i64,
        /// The login's extra claims, as a JSON object.
        #[sea_orm(column_type = "Text")]
        pub claims: String,
        /// When the challenge stops being accepted.
        pub expires_at: DateTimeUtc,
        /// When it was issued.
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `testudo_reauthentications`: when each user last re-authenticated (migration 16).
pub mod reauthentication {
    use sea_orm::entity::prelude::*;

    /// A row of `testudo_reauthentications`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testudo_reauthentications")]
    pub struct Model {
        /// The user.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// The time of the last successful `reauthenticate`.
        pub authenticated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `testudo_onboarding_sessions`: resumable registrations (migration 18).
pub mod onboarding_session {
    use sea_orm::entity::prelude::*;

    /// A row of `testudo_onboarding_sessions`. `Debug` leaves the digests and the state out.
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testudo_onboarding_sessions")]
    pub struct Model {
        /// The session's public id (in events and logs).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// SHA-256 hex of the session's token (the token itself is never stored).
        #[sea_orm(unique)]
        pub token_digest: String,
        /// The normalised address being registered.
        pub email: String,
        /// JSON: the next step and each step's data.
        #[sea_orm(column_type = "Text")]
        pub state: String,
        /// Keyed digest of the pending emailed code.
        pub code_digest: Option<String>,
        /// Wrong tries of the pending code.
        pub code_attempts: i32,
        /// When the pending code stops being accepted.
        pub code_expires_at: Option<DateTimeUtc>,
        /// When a `finish` call claimed the session.
        pub finishing_at: Option<DateTimeUtc>,
        /// When the session stops being accepted.
        pub expires_at: DateTimeUtc,
        /// When it was started.
        pub created_at: DateTimeUtc,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Model")
                .field("id", &self.id)
                .field("email", &self.email)
                .field("code_attempts", &self.code_attempts)
                .field("expires_at", &self.expires_at)
                .finish_non_exhaustive()
        }
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
