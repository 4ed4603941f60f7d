// @generated automatically by Diesel CLI.

diesel::table! {
    admin_audit (id) {
        id -> Int8,
        at -> Timestamptz,
        token_name -> Text,
        action -> Text,
        resource -> Text,
        resource_id -> Int4,
        product_id -> Int4,
        change -> Jsonb,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        xact -> Int8,
    }
}

diesel::table! {
    features (id) {
        id -> Int4,
        product_id -> Int4,
        feature -> Text,
        value -> Nullable<Text>,
    }
}

diesel::table! {
    photos (id) {
        id -> Int4,
        style_id -> Int4,
        url -> Text,
        thumbnail_url -> Text,
    }
}

diesel::table! {
    product (id) {
        id -> Int4,
        name -> Text,
        slogan -> Text,
        description -> Text,
        category -> Text,
        default_price -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    product_answers (product_id) {
        product_id -> Int4,
        body -> Text,
    }
}

diesel::table! {
    related (id) {
        id -> Int4,
        current_product_id -> Int4,
        related_product_id -> Int4,
    }
}

diesel::table! {
    skus (id) {
        id -> Int4,
        style_id -> Int4,
        size -> Text,
        quantity -> Int4,
    }
}

diesel::table! {
    styles (id) {
        id -> Int4,
        product_id -> Int4,
        name -> Text,
        sale_price -> Nullable<Int4>,
        original_price -> Int4,
        default_style -> Bool,
    }
}

diesel::table! {
    styles_answers (product_id) {
        product_id -> Int4,
        body -> Text,
    }
}

diesel::joinable!(features -> product (product_id));
diesel::joinable!(photos -> styles (style_id));
diesel::joinable!(product_answers -> product (product_id));
diesel::joinable!(skus -> styles (style_id));
diesel::joinable!(styles -> product (product_id));
diesel::joinable!(styles_answers -> product (product_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_audit,
    features,
    photos,
    product,
    product_answers,
    related,
    skus,
    styles,
    styles_answers,
);
