//! The zone directory: TLC's `taxi_zone_lookup.csv` (or nothing) in, a name and a borough per
//! zone id out.
//!
//! The lookup is read at start-up from `--zones PATH` (or `ZONECAST_ZONES`, or the
//! `taxi_zone_lookup.csv` beside the real data when it exists). Without it every zone is still
//! served, named `Zone N` in borough `Unknown`.

use std::path::{Path, PathBuf};

/// Errors reading a zone lookup file.
#[derive(Debug, thiserror::Error)]
pub enum ZoneLookupError {
    /// The file could not be read.
    #[error("cannot read zone lookup {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The header lacks a needed column.
    #[error("zone lookup {path} has no column {column}: expected TLC's LocationID,Borough,Zone,service_zone header")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: &'static str,
    },
}

/// Names and boroughs by zone id (1..=265).
#[derive(Clone, Debug)]
pub struct ZoneDirectory {
    entries: Vec<Option<(String, String)>>,
}

/// The highest TLC zone id.
pub const MAX_ZONE: u16 = 265;

/// Whether `zone` is a TLC zone id (1..=265).
pub fn is_tlc_zone(zone: u16) -> bool {
    (1..=MAX_ZONE).contains(&zone)
}

impl Default for ZoneDirectory {
    fn default() -> Self {
        ZoneDirectory {
            entries: vec![None; MAX_ZONE as usize + 1],
        }
    }
}

/// Splits one CSV line into fields (quotes with doubled quotes inside).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

impl ZoneDirectory {
    /// Reads TLC's lookup CSV (`LocationID,Borough,Zone,service_zone`).
    pub fn load(path: &Path) -> Result<Self, ZoneLookupError> {
        let text = std::fs::read_to_string(path).map_err(|source| ZoneLookupError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = text.lines();
        let header: Vec<String> = fields(lines.next().unwrap_or_default())
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let column = |name: &'static str| {
            header
                .iter()
                .position(|h| h == &name.to_ascii_lowercase())
                .ok_or(ZoneLookupError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name,
                })
        };
        let (id, borough, zone) = (column("LocationID")?, column("Borough")?, column("Zone")?);
        let mut directory = ZoneDirectory::default();
        for line in lines {
            let row = fields(line);
            let Some(n) = row.get(id).and_then(|v| v.trim().parse::<u16>().ok()) else {
                continue;
            };
            if is_tlc_zone(n) {
                let get = |i: usize| row.get(i).map(|v| v.trim().to_string()).unwrap_or_default();
                directory.entries[n as usize] = Some((get(zone), get(borough)));
            }
        }
        Ok(directory)
    }

    /// The lookup at `explicit`, else `ZONECAST_ZONES`, else `taxi_zone_lookup.csv` in
    /// `ZONECAST_DATA` or `../shared/data` when present; else the unnamed directory.
    pub fn discover(explicit: Option<&Path>) -> Result<Self, ZoneLookupError> {
        if let Some(path) = explicit {
            return Self::load(path);
        }
        if let Some(path) = std::env::var_os("ZONECAST_ZONES") {
            return Self::load(Path::new(&path));
        }
        let data = std::env::var_os("ZONECAST_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("../shared/data"));
        let candidate = data.join("taxi_zone_lookup.csv");
        if candidate.exists() {
            return Self::load(&candidate);
        }
        tracing::info!("no zone lookup found; zones are served as `Zone N`");
        Ok(ZoneDirectory::default())
    }

    /// The zone's name (`Zone N` when unknown).
    pub fn name(&self, zone: u16) -> String {
        match self.entries.get(zone as usize) {
            Some(Some((name, _))) if !name.is_empty() => name.clone(),
            _ => format!("Zone {zone}"),
        }
    }

    /// Whether the zone lies in `borough` (compared case-insensitively).
    pub fn in_borough(&self, zone: u16, borough: &str) -> bool {
        self.borough(zone).to_lowercase() == borough.to_lowercase()
    }

    /// The zone's borough (`Unknown` when unknown).
    pub fn borough(&self, zone: u16) -> String {
        match self.entries.get(zone as usize) {
            Some(Some((_, borough))) if !borough.is_empty() => borough.clone(),
            _ => "Unknown".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_lines_with_quotes_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zones.csv");
        std::fs::write(
            &path,
            "\"LocationID\",\"Borough\",\"Zone\",\"service_zone\"\n1,\"EWR\",\"Newark Airport\",\"EWR\"\n7,\"Queens\",\"Astoria, North\",\"Boro Zone\"\nx,bad\n",
        )
        .unwrap();
        let zones = ZoneDirectory::load(&path).unwrap();
        assert_eq!(zones.name(1), "Newark Airport");
        assert_eq!(zones.name(7), "Astoria, North");
        assert_eq!(zones.borough(7), "Queens");
        assert_eq!(zones.name(9), "Zone 9");
        assert_eq!(zones.borough(9), "Unknown");
    }
}
