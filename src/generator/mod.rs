//! The trip generator: a seed and a size in, realistic synthetic TLC yellow-taxi trips out.
//!
//! Zones have skewed popularity (a few Manhattan-like zones carry most pickups), each zone
//! mixes a business-day and a nightlife daily profile, weekends are quieter in the morning
//! and busier at night, and hour totals carry noise. Rows come out roughly in pickup order
//! with a little disorder: neighbours swapped, and a small share of trips delayed by hours
//! (late data), as in the real files. Same seed, same rows, byte for byte.

pub mod rng;
pub mod writers;

use std::collections::VecDeque;
use std::path::PathBuf;

use rng::SplitMix64;

use crate::time::days_from_civil;
use crate::trip::Micros;

/// Errors writing generated trips. Each says which file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The output file could not be created or written.
    #[error("cannot write {path}: {source}; check that its folder exists and is writable and that the disk has room")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("cannot write Parquet file {path}: {message}; check that the disk has room, or write CSV (name the file *.csv)")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        message: String,
    },
    /// The output name says neither CSV nor Parquet.
    #[error(transparent)]
    UnknownFormat(#[from] crate::format::UnknownFormat),
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Number of trips (exact).
    pub trips: u64,
    /// Number of days covered, starting at `start`.
    pub days: u32,
    /// Random seed.
    pub seed: u64,
    /// First pickup hour, naive seconds (default 2024-01-01 00:00:00, a Monday).
    pub start: i64,
    /// Share of trips delivered late (hours after their pickup), default 0.3%.
    pub late_share: f64,
    /// Share of neighbouring rows swapped, default 10%.
    pub swap_share: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            trips: 100_000,
            days: 7,
            seed: 42,
            start: days_from_civil(2024, 1, 1) * 86_400,
            late_share: 0.003,
            swap_share: 0.1,
        }
    }
}

/// One generated trip with every TLC yellow column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeneratedTrip {
    /// VendorID (1 or 2).
    pub vendor: u8,
    /// Pickup time, naive seconds.
    pub pickup: i64,
    /// Dropoff time, naive seconds.
    pub dropoff: i64,
    /// passenger_count.
    pub passengers: u8,
    /// trip_distance, millionths of a mile (two decimals).
    pub distance: Micros,
    /// RatecodeID.
    pub ratecode: u8,
    /// PULocationID.
    pub pickup_zone: u16,
    /// DOLocationID.
    pub dropoff_zone: u16,
    /// payment_type.
    pub payment: u8,
    /// fare_amount.
    pub fare: Micros,
    /// extra.
    pub extra: Micros,
    /// mta_tax.
    pub mta_tax: Micros,
    /// tip_amount.
    pub tip: Micros,
    /// tolls_amount.
    pub tolls: Micros,
    /// improvement_surcharge.
    pub improvement: Micros,
    /// total_amount.
    pub total: Micros,
    /// congestion_surcharge.
    pub congestion: Micros,
    /// airport_fee.
    pub airport_fee: Micros,
}

/// Zones that get trips (264 and 265 are "unknown" / "outside NYC" and get almost none).
const ZONES: u16 = 263;

const BUSINESS: [f64; 24] = [
    0.25, 0.15, 0.1, 0.08, 0.1, 0.25, 0.6, 1.1, 1.5, 1.4, 1.2, 1.2, 1.3, 1.3, 1.35, 1.45, 1.55,
    1.7, 1.8, 1.6, 1.3, 1.1, 0.8, 0.5,
];
const NIGHTLIFE: [f64; 24] = [
    1.3, 1.1, 0.9, 0.6, 0.35, 0.2, 0.2, 0.3, 0.45, 0.5, 0.55, 0.6, 0.7, 0.75, 0.8, 0.85, 0.95, 1.1,
    1.3, 1.5, 1.6, 1.7, 1.7, 1.5,
];

impl GeneratedTrip {
    /// The trip as zonecast reads it (pickup, zone, distance, fare, total).
    pub fn trip(&self) -> crate::trip::Trip {
        crate::trip::Trip::new(
            self.pickup,
            self.pickup_zone,
            [Some(self.distance), Some(self.fare), Some(self.total)],
        )
    }
}

/// A deterministic stream of trips.
pub struct TripGenerator {
    config: GeneratorConfig,
    rng: SplitMix64,
    /// Per hour-of-day and weekend flag: cumulative zone weights.
    zone_tables: Vec<Vec<f64>>,
    /// Expected trips per hour of the period (cumulative, for exact rounding).
    cumulative: Vec<f64>,
    hour: usize,
    emitted_expected: u64,
    current: VecDeque<GeneratedTrip>,
    delayed: VecDeque<(i64, GeneratedTrip)>,
}

impl TripGenerator {
    /// A generator for `config`.
    pub fn new(config: GeneratorConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        // Popularity: a shuffled Zipf-like law over the zones.
        let mut order: Vec<u16> = (1..=ZONES).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut popularity = vec![0.0; ZONES as usize + 1];
        let mut nightlife = vec![0.0; ZONES as usize + 1];
        for (rank, &zone) in order.iter().enumerate() {
            popularity[zone as usize] = 1.0 / (rank as f64 + 3.0).powf(1.15);
            nightlife[zone as usize] = rng.unit().powi(2);
        }
        let mut zone_tables = Vec::with_capacity(48);
        let mut hour_weight = [0.0; 48];
        for weekend in [false, true] {
            for hod in 0..24 {
                let mut total = 0.0;
                let mut cumulative = Vec::with_capacity(ZONES as usize);
                for zone in 1..=ZONES as usize {
                    let mix = if weekend {
                        (nightlife[zone] + 0.25).min(1.0)
                    } else {
                        nightlife[zone]
                    };
                    let shape = (1.0 - mix) * BUSINESS[hod] + mix * NIGHTLIFE[hod];
                    total += popularity[zone] * shape;
                    cumulative.push(total);
                }
                hour_weight[weekend as usize * 24 + hod] = total * if weekend { 0.85 } else { 1.0 };
                zone_tables.push(cumulative);
            }
        }
        let hours = config.days.max(1) as usize * 24;
        let mut weights = Vec::with_capacity(hours);
        for h in 0..hours {
            let secs = config.start + h as i64 * 3600;
            let day = secs.div_euclid(86_400);
            let weekday = (day + 3).rem_euclid(7); // 0 = Monday
            let weekend = weekday >= 5;
            let noise = (1.0 + 0.08 * rng.normal()).max(0.3);
            weights.push(
                hour_weight[weekend as usize * 24 + (secs.rem_euclid(86_400) / 3600) as usize]
                    * noise,
            );
        }
        let sum: f64 = weights.iter().sum();
        let mut running = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                running += w / sum * config.trips as f64;
                running
            })
            .collect();
        TripGenerator {
            config,
            rng,
            zone_tables,
            cumulative,
            hour: 0,
            emitted_expected: 0,
            current: VecDeque::new(),
            delayed: VecDeque::new(),
        }
    }

    fn fill_hour(&mut self) -> bool {
        if self.hour >= self.cumulative.len() {
            return false;
        }
        let target = if self.hour + 1 == self.cumulative.len() {
            self.config.trips
        } else {
            self.cumulative[self.hour].round() as u64
        };
        let count = target.saturating_sub(self.emitted_expected);
        self.emitted_expected = target.max(self.emitted_expected);
        let start = self.config.start + self.hour as i64 * 3600;
        let weekend = (start.div_euclid(86_400) + 3).rem_euclid(7) >= 5;
        let hod = (start.rem_euclid(86_400) / 3600) as usize;
        let mut trips: Vec<GeneratedTrip> = (0..count)
            .map(|_| {
                let pickup = start + self.rng.below(3600) as i64;
                let zone = self.pick_zone(weekend as usize * 24 + hod);
                self.make_trip(pickup, zone)
            })
            .collect();
        trips.sort_by_key(|t| t.pickup);
        for i in 1..trips.len() {
            if self.rng.chance(self.config.swap_share) {
                trips.swap(i - 1, i);
            }
        }
        // Late deliveries: held back and released some hours later.
        let hour_index = self.hour as i64;
        for trip in trips {
            if self.rng.chance(self.config.late_share) {
                let span = if self.rng.chance(0.1) { 48 } else { 6 };
                let delay = 1 + self.rng.below(span) as i64;
                self.delayed.push_back((hour_index + delay, trip));
            } else {
                self.current.push_back(trip);
            }
        }
        let mut ready: Vec<GeneratedTrip> = Vec::new();
        self.delayed.retain(|(release, trip)| {
            if *release <= hour_index {
                ready.push(*trip);
                false
            } else {
                true
            }
        });
        self.current.extend(ready);
        self.hour += 1;
        true
    }

    fn pick_zone(&mut self, table: usize) -> u16 {
        let weights = &self.zone_tables[table];
        let x = self.rng.unit() * weights[weights.len() - 1];
        let index = weights.partition_point(|&w| w <= x).min(weights.len() - 1);
        // A few trips in the "unknown" zones, as in real files.
        if self.rng.chance(0.002) {
            return 264 + self.rng.below(2) as u16;
        }
        index as u16 + 1
    }

    fn make_trip(&mut self, pickup: i64, zone: u16) -> GeneratedTrip {
        let rng = &mut self.rng;
        let miles = (0.75 + 0.75 * rng.normal()).exp().clamp(0.1, 45.0);
        let distance = ((miles * 100.0).round() as i64) * 10_000;
        let mph = 8.0 + 10.0 * rng.unit();
        let duration = ((miles / mph) * 3600.0) as i64 + 60 + rng.below(240) as i64;
        let cents = |dollars: f64| ((dollars * 100.0).round() as i64) * 10_000;
        let fare = cents(3.0 + 2.5 * miles + 0.5 * duration as f64 / 60.0);
        let extra = if rng.chance(0.4) { cents(1.0) } else { 0 };
        let mta_tax = cents(0.5);
        let improvement = cents(1.0);
        let card = rng.chance(0.75);
        let tip = if card {
            cents((fare as f64 / 1e6) * (0.1 + 0.15 * rng.unit()))
        } else {
            0
        };
        let tolls = if miles > 12.0 && rng.chance(0.5) {
            cents(6.94)
        } else {
            0
        };
        let congestion = if rng.chance(0.8) { cents(2.5) } else { 0 };
        let airport_fee = if miles > 10.0 && rng.chance(0.3) {
            cents(1.75)
        } else {
            0
        };
        let total = fare + extra + mta_tax + improvement + tip + tolls + congestion + airport_fee;
        GeneratedTrip {
            vendor: 1 + rng.below(2) as u8,
            pickup,
            dropoff: pickup + duration,
            passengers: 1 + (rng.unit().powi(3) * 5.0) as u8,
            distance,
            ratecode: if rng.chance(0.97) { 1 } else { 2 },
            pickup_zone: zone,
            dropoff_zone: 1 + rng.below(ZONES as u64) as u16,
            payment: if card { 1 } else { 2 },
            fare,
            extra,
            mta_tax,
            tip,
            tolls,
            improvement,
            total,
            congestion,
            airport_fee,
        }
    }
}

impl Iterator for TripGenerator {
    type Item = GeneratedTrip;

    fn next(&mut self) -> Option<GeneratedTrip> {
        loop {
            if let Some(trip) = self.current.pop_front() {
                return Some(trip);
            }
            if !self.fill_hour() {
                return self.delayed.pop_front().map(|(_, t)| t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_count_and_deterministic() {
        let config = GeneratorConfig {
            trips: 5000,
            days: 3,
            seed: 7,
            ..GeneratorConfig::default()
        };
        let a: Vec<_> = TripGenerator::new(config.clone()).collect();
        let b: Vec<_> = TripGenerator::new(config).collect();
        assert_eq!(a.len(), 5000);
        assert_eq!(a, b);
        assert!(a
            .iter()
            .all(|t| (1..=265).contains(&t.pickup_zone) && t.dropoff > t.pickup));
    }

    #[test]
    fn daily_cycle_is_visible() {
        let config = GeneratorConfig {
            trips: 50_000,
            days: 7,
            ..GeneratorConfig::default()
        };
        let mut by_hour = [0u64; 24];
        for t in TripGenerator::new(config) {
            by_hour[(t.pickup.rem_euclid(86_400) / 3600) as usize] += 1;
        }
        assert!(by_hour[18] > 3 * by_hour[4], "{by_hour:?}");
    }
}
