//! How a payment is made: cash, a card (debit or credit) or a transfer.

use crate::text_enum;

text_enum! {
    /// How a payment was made.
    PaymentMethod {
        Efectivo = "EFECTIVO" => "Efectivo",
        Debito = "DEBITO" => "Débito",
        Credito = "CREDITO" => "Crédito",
        Transferencia = "TRANSFERENCIA" => "Transferencia",
    }
}

impl PaymentMethod {
    pub fn is_card(self) -> bool {
        matches!(self, PaymentMethod::Debito | PaymentMethod::Credito)
    }
}
