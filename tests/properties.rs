//! Property tests on stable Rust (proptest): the CSV row parser, the timestamp parser and the
//! model-file decoder never panic on arbitrary input and keep their invariants. (The socket
//! line reader's properties are unit tests in `src/sources/socket.rs`; it is private.)

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use zonecast::features::FeatureSpec;
use zonecast::model::{Baseline, ModelFile};
use zonecast::schema::ColumnMap;
use zonecast::sources::csv_rows::CsvRowParser;
use zonecast::time::{days_from_civil, format_naive, parse_local, parse_naive};

fn parser() -> CsvRowParser {
    let header: Vec<String> = [
        "tpep_pickup_datetime",
        "PULocationID",
        "trip_distance",
        "fare_amount",
        "total_amount",
    ]
    .map(String::from)
    .to_vec();
    CsvRowParser::new("properties", &header, &ColumnMap::default()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_csv_row_parser_never_panics_and_accepts_only_valid_trips(
        line in vec(any::<u8>(), 0..160)
    ) {
        if let Ok(trip) = parser().parse(&line) {
            prop_assert!((1..=265).contains(&trip.zone));
        }
    }

    #[test]
    fn csv_rows_of_valid_fields_parse_back_exactly(
        (year, month, day) in (2009i64..2030, 1u32..=12, 1u32..=28),
        (hour, minute, second) in (0i64..24, 0i64..60, 0i64..60),
        zone in 1u16..=265,
        cents in 0u32..100_000,
    ) {
        let line = format!(
            "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02},{zone},1.5,{}.{:02},9.99",
            cents / 100,
            cents % 100
        );
        let trip = parser().parse(line.as_bytes()).unwrap();
        let expected = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        prop_assert_eq!(trip.pickup, expected);
        prop_assert_eq!(trip.zone, zone);
    }

    #[test]
    fn the_timestamp_parsers_never_panic(text in vec(any::<u8>(), 0..48)) {
        let _ = parse_naive(&text);
        let _ = parse_local(&text);
    }

    #[test]
    fn naive_timestamps_round_trip(secs in 0i64..4_102_444_800) {
        prop_assert_eq!(parse_naive(format_naive(secs).as_bytes()), Some(secs));
        prop_assert_eq!(parse_local(format_naive(secs).as_bytes()), Some(secs));
    }

    #[test]
    fn a_z_time_and_the_same_instant_with_any_offset_agree(
        secs in 1_230_768_000i64..1_900_000_000,
        minutes in -1080i64..=1080,
    ) {
        let z = parse_local(format!("{}Z", format_naive(secs)).as_bytes());
        let sign = if minutes < 0 { '-' } else { '+' };
        let shifted = format!(
            "{}{sign}{:02}:{:02}",
            format_naive(secs + minutes * 60),
            minutes.abs() / 60,
            minutes.abs() % 60
        );
        prop_assert!(z.is_some());
        prop_assert_eq!(parse_local(shifted.as_bytes()), z);
    }

    #[test]
    fn arbitrary_bytes_are_refused_as_a_model(bytes in vec(any::<u8>(), 0..256)) {
        prop_assert!(ModelFile::from_bytes(&bytes, Path::new("fuzz.bin")).is_err());
    }

    #[test]
    fn mutated_model_files_are_refused_by_the_checksum_or_the_frame(
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let model = ModelFile::baseline(Baseline::FourWeekMean, FeatureSpec::default());
        let original = model.to_bytes();
        let mut bytes = original.clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let loaded = ModelFile::from_bytes(&bytes, Path::new("fuzz.bin"));
        // Any change is refused (the frame or the checksum); an unchanged file loads.
        prop_assert_eq!(loaded.is_ok(), bytes == original);
        if let Ok(loaded) = loaded {
            prop_assert_eq!(loaded.to_bytes(), bytes);
        }
    }
}
