//! Numbers for people.

/// Bytes in binary units, one decimal: `47.7 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A shell command broken between words into lines of at most `width` columns, each but the
/// last ending in ` \`, so it still runs when copied off a narrow screen. A word longer than
/// the width gets a line of its own; it is never cut.
pub fn shell_lines(command: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    let mut line = String::new();
    for word in command.split_whitespace() {
        // Room for " \" after every line that continues.
        let wanted = line.chars().count() + 1 + word.chars().count() + 2;
        if !line.is_empty() && wanted > width {
            lines.push(format!("{line} \\"));
            line = format!("  {word}");
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_break_between_words_with_continuations() {
        let cmd = "aws ecr get-login-password --region eu-west-1 | docker login --username AWS \
                   --password-stdin 210987654321.dkr.ecr.eu-west-1.amazonaws.com";
        let lines = shell_lines(cmd, 60);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:?}");
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(" \\")));
        // Joined back, it is the same command.
        let joined = lines
            .iter()
            .map(|l| l.trim_end_matches(" \\").trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(joined, cmd.split_whitespace().collect::<Vec<_>>().join(" "));
        assert_eq!(shell_lines("docker pull x", 80), ["docker pull x"]);
    }
}
