//! Where a jornada and a register session stand: open or closed, as stored
//! in their `status` columns.

use crate::text_enum;

text_enum! {
    /// A jornada: open (sessions may open in it) or closed.
    JornadaStatus {
        Open = "OPEN" => "Abierta",
        Closed = "CLOSED" => "Cerrada",
    }
}

text_enum! {
    /// A register session: open (the caja sells) or closed (counted).
    SessionStatus {
        Open = "OPEN" => "Abierta",
        Closed = "CLOSED" => "Cerrada",
    }
}

impl JornadaStatus {
    pub fn is_open(self) -> bool {
        self == JornadaStatus::Open
    }
}

impl SessionStatus {
    pub fn is_open(self) -> bool {
        self == SessionStatus::Open
    }
}
