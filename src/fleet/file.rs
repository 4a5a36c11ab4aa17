//! Reading a fleet key file: hex lines, the current secret then the previous one, in a file
//! only its owner (and group) may read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{FleetKey, FleetKeyError};

/// Reads and checks the key file at `path`.
pub(super) fn read(path: &Path) -> Result<FleetKey, FleetKeyError> {
    let read_error = |source| FleetKeyError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    // The permissions of the file opened, not of whatever the path names a moment later.
    let metadata = file.metadata().map_err(read_error)?;
    check_mode(path, &metadata)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_error)?;

    let mut secrets = Vec::with_capacity(2);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if secrets.len() == 2 {
            return Err(FleetKeyError::TooManySecrets {
                path: path.to_owned(),
                line: line_no,
            });
        }
        let secret = decode_hex(line).map_err(|detail| FleetKeyError::BadHex {
            path: path.to_owned(),
            line: line_no,
            detail,
        })?;
        if secret.len() < FleetKey::MIN_LEN {
            return Err(FleetKeyError::ShortInFile {
                path: path.to_owned(),
                line: line_no,
                given: secret.len(),
            });
        }
        secrets.push(FleetKey::new(&secret));
    }
    let mut secrets = secrets.into_iter();
    let current = secrets.next().ok_or_else(|| FleetKeyError::Empty {
        path: path.to_owned(),
    })?;
    Ok(match secrets.next() {
        Some(previous) => current.with_previous(previous),
        None => current,
    })
}

#[cfg(unix)]
fn check_mode(path: &Path, metadata: &std::fs::Metadata) -> Result<(), FleetKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    // Others may not read it; nobody but the owner may change it.
    if mode & 0o026 != 0 {
        return Err(FleetKeyError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path, _: &std::fs::Metadata) -> Result<(), FleetKeyError> {
    Ok(())
}

/// Decodes a line of hex digits (either case). The error says what is wrong without
/// repeating the secret's characters.
fn decode_hex(line: &str) -> Result<Vec<u8>, String> {
    let mut nibbles = Vec::with_capacity(line.len());
    for (index, c) in line.chars().enumerate() {
        match c.to_digit(16) {
            Some(n) => nibbles.push(n as u8),
            None => return Err(format!("character {} is not a hex digit", index + 1)),
        }
    }
    if nibbles.len() % 2 != 0 {
        return Err(format!("{} hex digits, an odd number", nibbles.len()));
    }
    Ok(nibbles
        .chunks_exact(2)
        .map(|pair| (pair[0] << 4) | pair[1])
        .collect())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use twinport_testkit::TempDir;

    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    fn write(dir: &TempDir, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.path(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn secret(hex: &str) -> FleetKey {
        FleetKey::new(&decode_hex(hex).unwrap())
    }

    #[test]
    fn a_file_of_openssl_rand_hex_is_the_key() {
        let dir = TempDir::new("fleet-key-good");
        let p = write(&dir, "fleet.key", &format!("{HEX}\n"), 0o600);
        let k = FleetKey::from_file(&p).unwrap();
        assert!(!k.has_previous());
        assert_eq!(k.derive("l", b""), secret(HEX).derive("l", b""));
        assert_eq!(
            k.derive("l", b"")[..],
            FleetKey::from_bytes(&decode_hex(HEX).unwrap())
                .unwrap()
                .derive("l", b"")[..]
        );

        // Blank lines and spaces around are skipped; the second secret is the previous one;
        // the group may read it.
        let old = "ff".repeat(40);
        let p = write(
            &dir,
            "rotating.key",
            &format!("\n  {HEX} \r\n\n{old}\n"),
            0o640,
        );
        let k = FleetKey::from_file(&p).unwrap();
        assert_eq!(k.derive("l", b""), secret(HEX).derive("l", b""));
        assert_eq!(
            k.derive_previous("l", b""),
            Some(secret(&old).derive("l", b""))
        );
    }

    #[test]
    fn a_file_others_may_read_or_change_is_refused_with_the_chmod() {
        let dir = TempDir::new("fleet-key-mode");
        for (mode, what) in [
            (0o644, "read"),
            (0o604, "read"),
            (0o620, "change"),
            (0o602, "change"),
            (0o666, "read and change"),
        ] {
            let p = write(&dir, "fleet.key", HEX, mode);
            let e = FleetKey::from_file(&p).unwrap_err();
            assert!(
                matches!(e, FleetKeyError::Exposed { mode: m, .. } if m == mode),
                "{e}"
            );
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: mode {mode:04o} lets other users {what} the fleet key; run `chmod 600 {}`",
                    p.display(),
                    p.display()
                )
            );
        }
    }

    #[test]
    fn bad_files_name_the_path_and_line_without_the_secret() {
        let dir = TempDir::new("fleet-key-bad");

        let missing = dir.path("missing.key");
        let e = FleetKey::from_file(&missing).unwrap_err();
        assert!(matches!(e, FleetKeyError::Read { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("{}: cannot read the fleet key", missing.display())
        );
        twinport_testkit::errors::assert_typed_cause::<std::io::Error>(&e);

        let p = write(&dir, "empty.key", "\n \n", 0o600);
        let e = FleetKey::from_file(&p).unwrap_err();
        assert!(matches!(e, FleetKeyError::Empty { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: no fleet secret", p.display())),
            "{e}"
        );

        let p = write(
            &dir,
            "letters.key",
            &format!("{HEX}\n\nzz{}\n", &HEX[2..]),
            0o600,
        );
        let e = FleetKey::from_file(&p).unwrap_err();
        assert!(matches!(e, FleetKeyError::BadHex { line: 3, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}, line 3: not hex (character 1 is not a hex digit)",
                p.display()
            )
        );

        let p = write(&dir, "odd.key", &format!("{HEX}0"), 0o600);
        let e = FleetKey::from_file(&p).unwrap_err();
        assert!(matches!(e, FleetKeyError::BadHex { line: 1, .. }), "{e}");
        assert!(
            e.to_string()
                .ends_with("not hex (65 hex digits, an odd number)"),
            "{e}"
        );

        let p = write(&dir, "short.key", &HEX[..62], 0o600);
        let e = FleetKey::from_file(&p).unwrap_err();
        assert!(
            matches!(
                e,
                FleetKeyError::ShortInFile {
                    line: 1,
                    given: 31,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("{}, line 1: the secret has 31 bytes", p.display())),
            "{e}"
        );

        let p = write(&dir, "three.key", &format!("{HEX}\n{HEX}\n{HEX}\n"), 0o600);
        let e = FleetKey::from_file(&p).unwrap_err();
        assert!(
            matches!(e, FleetKeyError::TooManySecrets { line: 3, .. }),
            "{e}"
        );

        // No message repeats the secret's digits.
        for name in ["letters.key", "odd.key", "short.key"] {
            let e = FleetKey::from_file(dir.path(name)).unwrap_err();
            assert!(!e.to_string().contains("445566"), "{e}");
        }
    }
}
