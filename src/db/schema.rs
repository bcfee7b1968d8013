// @generated automatically by Diesel CLI.

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_id -> Nullable<Int4>,
        actor_name -> Text,
        action -> Text,
        entity -> Text,
        entity_id -> Nullable<Text>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
    }
}

diesel::table! {
    boleta_settings (id) {
        id -> Bool,
        enabled -> Bool,
        emisor_rut -> Nullable<Text>,
        razon_social -> Nullable<Text>,
        giro -> Nullable<Text>,
        direccion -> Nullable<Text>,
        comuna -> Nullable<Text>,
        modelo -> Text,
        provider -> Text,
        provider_url -> Nullable<Text>,
        updated_at -> Timestamptz,
        updated_by -> Nullable<Int4>,
    }
}

diesel::table! {
    card_attempts (id) {
        id -> Int8,
        register_id -> Int4,
        session_id -> Int4,
        attempt_key -> Uuid,
        sale_key -> Uuid,
        #[max_length = 20]
        provider -> Varchar,
        used_backup -> Bool,
        #[max_length = 20]
        method -> Varchar,
        amount -> Int8,
        #[max_length = 20]
        status -> Varchar,
        #[max_length = 12]
        authorization_code -> Nullable<Varchar>,
        #[max_length = 64]
        terminal_reference -> Nullable<Varchar>,
        detail -> Nullable<Text>,
        fallback_from -> Nullable<Int8>,
        overridden_by -> Nullable<Int4>,
        started_by -> Int4,
        started_at -> Timestamptz,
        deadline_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        resolved_by -> Nullable<Int4>,
        sale_id -> Nullable<Int8>,
        approved_late -> Bool,
        refunded_amount -> Int8,
        written_off_by -> Nullable<Int4>,
        written_off_at -> Nullable<Timestamptz>,
        write_off_reason -> Nullable<Text>,
        #[max_length = 20]
        card_brand -> Nullable<Varchar>,
        #[max_length = 4]
        card_last4 -> Nullable<Varchar>,
        installments -> Nullable<Int2>,
        code_repeats -> Nullable<Int8>,
        tip -> Int8,
    }
}

diesel::table! {
    card_code_reviews (attempt_id) {
        attempt_id -> Int8,
        reviewed_by -> Int4,
        reviewed_at -> Timestamptz,
        note -> Text,
    }
}

diesel::table! {
    card_refunds (id) {
        id -> Int8,
        refund_key -> Uuid,
        attempt_id -> Int8,
        register_id -> Int4,
        amount -> Int8,
        #[max_length = 12]
        authorization_code -> Varchar,
        reason -> Text,
        refunded_by -> Int4,
        refunded_at -> Timestamptz,
    }
}

diesel::table! {
    cash_movements (id) {
        id -> Int8,
        register_id -> Int4,
        session_id -> Int4,
        #[max_length = 20]
        kind -> Varchar,
        amount -> Int8,
        reason -> Text,
        seq -> Int8,
        created_at -> Timestamptz,
        created_by -> Int4,
    }
}

diesel::table! {
    command_keys (idempotency_key) {
        idempotency_key -> Uuid,
        register_id -> Int4,
        command -> Text,
        request_hash -> Text,
        reply -> Jsonb,
        seq -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    flagged_sales (id) {
        id -> Int8,
        register_id -> Int4,
        session_id -> Nullable<Int4>,
        idempotency_key -> Uuid,
        sale -> Jsonb,
        total -> Int8,
        reason -> Text,
        made_at -> Timestamptz,
        flagged_by -> Int4,
        flagged_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
        resolved_by -> Nullable<Int4>,
        resolution -> Nullable<Text>,
    }
}

diesel::table! {
    hub_settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    hub_lease (id) {
        id -> Int2,
        epoch -> Int8,
        holder -> Nullable<Text>,
        holder_since -> Nullable<Timestamptz>,
        renewed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    jornadas (id) {
        id -> Int4,
        #[max_length = 20]
        status -> Varchar,
        opened_at -> Timestamptz,
        opened_by -> Int4,
        closed_at -> Nullable<Timestamptz>,
        closed_by -> Nullable<Int4>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Int8,
        account -> Text,
        address -> Text,
        at -> Timestamptz,
        checking -> Bool,
    }
}

diesel::table! {
    logins (id) {
        id -> Uuid,
        user_id -> Int4,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        address -> Text,
        user_agent -> Text,
        ended_at -> Nullable<Timestamptz>,
        ended_by -> Nullable<Int4>,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    pos_registers (id) {
        id -> Int4,
        #[max_length = 100]
        name -> Varchar,
        #[max_length = 20]
        code -> Varchar,
        #[max_length = 20]
        register_type -> Varchar,
        #[max_length = 20]
        payment_provider_primary -> Varchar,
        #[max_length = 20]
        payment_provider_backup -> Nullable<Varchar>,
        fallback_policy -> Jsonb,
        version -> Int4,
        archived_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        #[max_length = 20]
        operational_status -> Varchar,
        blind_count -> Bool,
        max_cash_difference -> Nullable<Int8>,
        terminal -> Jsonb,
    }
}

diesel::table! {
    product_cajas (product_id, register_id) {
        product_id -> Int4,
        register_id -> Int4,
    }
}

diesel::table! {
    product_categories (id) {
        id -> Int4,
        name -> Text,
        sort_order -> Int4,
        archived_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    product_prices (product_id, valid_from) {
        product_id -> Int4,
        price -> Int8,
        valid_from -> Timestamptz,
        set_by -> Nullable<Int4>,
    }
}

diesel::table! {
    products (id) {
        id -> Int4,
        category_id -> Int4,
        name -> Text,
        short_name -> Text,
        price -> Int8,
        colour -> Text,
        sort_order -> Int4,
        every_caja -> Bool,
        sold_out -> Bool,
        archived_at -> Nullable<Timestamptz>,
        version -> Int4,
        updated_at -> Timestamptz,
        updated_by -> Nullable<Int4>,
        exempt -> Bool,
    }
}

diesel::table! {
    provider_outages (id) {
        id -> Int8,
        #[max_length = 20]
        provider -> Varchar,
        started_at -> Timestamptz,
        reason -> Text,
        started_by -> Nullable<Int4>,
        ended_at -> Nullable<Timestamptz>,
        end_reason -> Nullable<Text>,
        ended_by -> Nullable<Int4>,
    }
}

diesel::table! {
    register_events (register_id, seq) {
        register_id -> Int4,
        seq -> Int8,
        change -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    register_seqs (register_id) {
        register_id -> Int4,
        event_seq -> Int8,
    }
}

diesel::table! {
    register_sessions (id) {
        id -> Int4,
        register_id -> Int4,
        #[max_length = 20]
        status -> Varchar,
        initial_cash -> Int8,
        opened_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
        cash_count -> Nullable<Int8>,
        payment_totals -> Jsonb,
        ticket_count -> Int4,
        cash_difference -> Nullable<Int8>,
        payment_provider_used_primary_count -> Int4,
        payment_provider_used_backup_count -> Int4,
        jornada_id -> Nullable<Int4>,
        opened_by -> Nullable<Int4>,
        closed_by -> Nullable<Int4>,
        cash_sales -> Int8,
        cash_in -> Int8,
        cash_out -> Int8,
        cash_expected -> Nullable<Int8>,
        cash_count_detail -> Nullable<Jsonb>,
        difference_approved_by -> Nullable<Int4>,
        tip_totals -> Jsonb,
    }
}

diesel::table! {
    /// A view: each of a sale's lines (`sales.line_*`) as a row.
    sale_lines (sale_id, line_no) {
        sale_id -> Int8,
        line_no -> Int2,
        product_id -> Nullable<Int4>,
        name -> Text,
        unit_price -> Int8,
        quantity -> Int4,
        line_total -> Nullable<Int8>,
    }
}

diesel::table! {
    /// A view: each of a sale's payments (`sales.payment_*`) as a row.
    sale_payments (sale_id, payment_no) {
        sale_id -> Int8,
        payment_no -> Int2,
        #[max_length = 20]
        method -> Varchar,
        amount -> Int8,
        amount_charged -> Int8,
        tendered -> Nullable<Int8>,
        change_given -> Int8,
        #[max_length = 20]
        provider -> Nullable<Varchar>,
        used_backup -> Bool,
        card_attempt_id -> Nullable<Int8>,
        tip -> Int8,
    }
}

diesel::table! {
    sales (id) {
        id -> Int8,
        register_id -> Int4,
        session_id -> Int4,
        idempotency_key -> Uuid,
        request_hash -> Text,
        total -> Int8,
        total_charged -> Int8,
        seq -> Int8,
        created_at -> Timestamptz,
        created_by -> Int4,
        voided_at -> Nullable<Timestamptz>,
        voided_by -> Nullable<Int4>,
        void_reason -> Nullable<Text>,
        line_products -> Array<Nullable<Int4>>,
        line_names -> Array<Text>,
        line_prices -> Array<Int8>,
        line_quantities -> Array<Int4>,
        payment_methods -> Array<Text>,
        payment_amounts -> Array<Int8>,
        payment_charged -> Array<Int8>,
        payment_tendered -> Array<Nullable<Int8>>,
        payment_change_given -> Array<Int8>,
        payment_providers -> Array<Nullable<Text>>,
        payment_used_backup -> Array<Bool>,
        payment_card_attempts -> Array<Nullable<Int8>>,
        payment_tips -> Array<Int8>,
    }
}

diesel::table! {
    tax_documents (id) {
        id -> Int8,
        sale_id -> Int8,
        register_id -> Int4,
        kind -> Int2,
        idempotency_key -> Uuid,
        total -> Int8,
        status -> Text,
        attempts -> Int4,
        next_try_at -> Timestamptz,
        last_error -> Nullable<Text>,
        track_id -> Nullable<Text>,
        folio -> Nullable<Int8>,
        link -> Nullable<Text>,
        reason -> Nullable<Text>,
        refers_to -> Nullable<Int8>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        decided_at -> Nullable<Timestamptz>,
        exempt -> Int8,
        line_exempt -> Nullable<Array<Bool>>,
    }
}

diesel::table! {
    users (id) {
        id -> Int4,
        #[max_length = 60]
        name -> Varchar,
        #[max_length = 20]
        role -> Varchar,
        password_hash -> Text,
        pin_hash -> Nullable<Text>,
        session_epoch -> Int4,
        disabled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    venue_settings (id) {
        id -> Bool,
        one_open_session_per_cashier -> Bool,
        updated_at -> Timestamptz,
        updated_by -> Nullable<Int4>,
        tip_mode -> Text,
        tip_percent -> Int2,
        tip_limit_percent -> Int2,
    }
}

diesel::joinable!(audit_log -> users (actor_id));
diesel::joinable!(boleta_settings -> users (updated_by));
diesel::joinable!(card_attempts -> pos_registers (register_id));
diesel::joinable!(card_attempts -> register_sessions (session_id));
diesel::joinable!(card_attempts -> sales (sale_id));
diesel::joinable!(card_code_reviews -> card_attempts (attempt_id));
diesel::joinable!(card_code_reviews -> users (reviewed_by));
diesel::joinable!(card_refunds -> card_attempts (attempt_id));
diesel::joinable!(card_refunds -> pos_registers (register_id));
diesel::joinable!(cash_movements -> pos_registers (register_id));
diesel::joinable!(cash_movements -> register_sessions (session_id));
diesel::joinable!(cash_movements -> users (created_by));
diesel::joinable!(command_keys -> pos_registers (register_id));
diesel::joinable!(flagged_sales -> pos_registers (register_id));
diesel::joinable!(flagged_sales -> register_sessions (session_id));
diesel::joinable!(product_cajas -> pos_registers (register_id));
diesel::joinable!(product_cajas -> products (product_id));
diesel::joinable!(product_prices -> products (product_id));
diesel::joinable!(product_prices -> users (set_by));
diesel::joinable!(products -> product_categories (category_id));
diesel::joinable!(products -> users (updated_by));
diesel::joinable!(register_events -> pos_registers (register_id));
diesel::joinable!(register_seqs -> pos_registers (register_id));
diesel::joinable!(register_sessions -> jornadas (jornada_id));
diesel::joinable!(register_sessions -> pos_registers (register_id));
diesel::joinable!(sale_lines -> products (product_id));
diesel::joinable!(sale_lines -> sales (sale_id));
diesel::joinable!(sale_payments -> card_attempts (card_attempt_id));
diesel::joinable!(sale_payments -> sales (sale_id));
diesel::joinable!(sales -> pos_registers (register_id));
diesel::joinable!(sales -> register_sessions (session_id));
diesel::joinable!(venue_settings -> users (updated_by));

diesel::joinable!(tax_documents -> pos_registers (register_id));
diesel::joinable!(tax_documents -> sales (sale_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_log,
    boleta_settings,
    card_attempts,
    card_code_reviews,
    card_refunds,
    cash_movements,
    command_keys,
    flagged_sales,
    hub_lease,
    hub_settings,
    jornadas,
    login_failures,
    logins,
    pos_registers,
    product_cajas,
    product_categories,
    product_prices,
    products,
    provider_outages,
    register_events,
    register_seqs,
    register_sessions,
    sale_lines,
    sale_payments,
    sales,
    tax_documents,
    users,
    venue_settings,
);
