//! Reading a new password for `tocsin users set-password`: one line from
//! standard input (a script pipes it in), or, at a terminal, typed twice
//! at a prompt on standard error with echo off.

use std::io::{self, BufRead, IsTerminal, Write};

use anyhow::{Context, bail};

/// Longest line read: a little over the longest password the server takes,
/// so a longer one is refused by the server with its own message.
const MAX_LINE: u64 = 4096;

pub fn read_new_password(user: &str) -> anyhow::Result<String> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return read_line(&mut stdin.lock()).context("cannot read the password from standard input");
    }
    let first = prompt(&format!("New password for {user}: "))?;
    let second = prompt("Again: ")?;
    if first != second {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// One line without its line ending; an empty input is an error.
fn read_line<R: BufRead>(input: &mut R) -> anyhow::Result<String> {
    let mut line = String::new();
    io::Read::take(&mut *input, MAX_LINE).read_line(&mut line)?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if password.is_empty() {
        bail!("no password given: pipe it in on one line, or run at a terminal to be asked");
    }
    Ok(password.to_string())
}

/// Asks on standard error and reads one line from the terminal without
/// echoing it.
fn prompt(question: &str) -> anyhow::Result<String> {
    let mut err = io::stderr().lock();
    err.write_all(question.as_bytes())?;
    err.flush()?;
    let answer = {
        let _quiet = NoEcho::on_stdin()?;
        read_line(&mut io::stdin().lock())
    };
    // The Enter that ended the line was not echoed either.
    err.write_all(b"\n")?;
    answer
}

/// Echo off on standard input's terminal until dropped.
struct NoEcho {
    #[cfg(unix)]
    saved: libc::termios,
}

impl NoEcho {
    #[cfg(unix)]
    fn on_stdin() -> anyhow::Result<Self> {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios we own; a
        // zeroed termios is a valid value for tcgetattr to fill in.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                bail!("cannot read the terminal's settings: {}", io::Error::last_os_error());
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) != 0 {
                bail!("cannot turn the terminal's echo off: {}", io::Error::last_os_error());
            }
            Ok(NoEcho { saved })
        }
    }

    #[cfg(not(unix))]
    fn on_stdin() -> anyhow::Result<Self> {
        bail!("cannot turn echo off here; pipe the password in on standard input instead")
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: restores the settings read in `on_stdin`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_without_its_ending() {
        let read = |s: &str| read_line(&mut io::Cursor::new(s.as_bytes().to_vec())).map_err(|e| e.to_string());
        assert_eq!(read("correct horse\n").as_deref(), Ok("correct horse"));
        assert_eq!(read("correct horse\r\n").as_deref(), Ok("correct horse"));
        assert_eq!(read("no newline").as_deref(), Ok("no newline"));
        assert_eq!(read(" spaces kept \nsecond line\n").as_deref(), Ok(" spaces kept "));
        assert!(read("").unwrap_err().contains("no password given"));
        assert!(read("\n").is_err());
    }
}
