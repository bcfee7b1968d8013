//! The last `seq` a screen was sent of each register it follows. A floor
//! dashboard follows every caja and thousands of them stay connected: a
//! sorted list takes half the memory of a hash map for a venue's few dozen
//! cajas, and finds one as fast.

#[derive(Debug, Default)]
pub struct SentSeqs(Vec<(i32, i64)>);

impl SentSeqs {
    pub fn get(&self, register_id: i32) -> Option<i64> {
        let at = self.0.binary_search_by_key(&register_id, |&(id, _)| id);
        at.ok().map(|at| self.0[at].1)
    }

    pub fn set(&mut self, register_id: i32, seq: i64) {
        match self.0.binary_search_by_key(&register_id, |&(id, _)| id) {
            Ok(at) => self.0[at].1 = seq,
            Err(at) => self.0.insert(at, (register_id, seq)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_seq_per_register_in_any_order() {
        let mut sent = SentSeqs::default();
        for (register, seq) in [(7, 70), (2, 20), (30, 300), (2, 21), (11, 110)] {
            sent.set(register, seq);
        }
        assert_eq!(sent.get(2), Some(21));
        assert_eq!(sent.get(7), Some(70));
        assert_eq!(sent.get(30), Some(300));
        assert_eq!(sent.get(11), Some(110));
        assert_eq!(sent.get(3), None);
        assert_eq!(sent.0.len(), 4);
    }
}
