//! A throwaway PostgreSQL cluster from Debian's packages: initdb into a scratch folder, the
//! server on a free loopback port (its unix socket in the same folder), stopped and started
//! again by the test, removed when dropped. As root it runs as `nobody` (initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Debian server binaries, newest major version first.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed: run scripts/test.sh (it installs the Debian package postgresql)")
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A running (or stopped) cluster with a `sightline` database and a trusted `sightline` user.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    /// Its loopback port.
    pub port: u16,
    root: bool,
}

impl Postgres {
    /// Creates the cluster and starts it.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "sightline-pg-{}-{}",
            std::process::id(),
            crate::receivers::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let root = is_root();
        if root {
            let ok = Command::new("chown")
                .args(["nobody", dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(ok.success(), "chown nobody {}", dir.display());
        }
        let pg = Postgres {
            bin,
            port: crate::receivers::free_port(),
            dir,
            root,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "sightline",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.resume();
        pg.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "sightline",
                "sightline",
            ],
        );
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut c = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        c.current_dir(&self.dir);
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let out = self.command(tool).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
        out
    }

    /// The URL Sightline connects with.
    pub fn url(&self) -> String {
        format!("postgres://sightline@127.0.0.1:{}/sightline", self.port)
    }

    /// Starts the server and waits (`pg_ctl -w`, 30 s at most) until it takes connections.
    pub fn resume(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// Stops the server (fast: open connections are cut) and waits until it is down.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "30", "stop"],
        );
    }

    /// One value from a query, as text (`psql -tA`).
    pub fn query(&self, sql: &str) -> String {
        let out = self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "sightline",
                "-d",
                "sightline",
                "-tAc",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The scratch folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
