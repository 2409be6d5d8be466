//! Synthetic rosters of any size, reproducible from a seed: OneRoster 1.2 CSV (a folder or a
//! `.zip`) or the project's own CSV. Used by tests and by `command-center bench import`.
//!
//! Person `i` depends only on the seed and `i`, so two exports with the same seed describe the
//! same people; `drift_percent` moves that share of students to the next school and grade, as
//! a new school year would, and `turnover_percent` leaves that share of people out and adds as
//! many newcomers (people `rows..`), as departures and enrolments would.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Which format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    OneRoster12,
    Csv,
}

impl std::str::FromStr for GenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "oneroster-1.2" | "oneroster" => Ok(Self::OneRoster12),
            "csv" => Ok(Self::Csv),
            _ => Err(format!("unknown format `{s}`: use oneroster-1.2 or csv")),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenOptions {
    pub rows: u64,
    pub seed: u64,
    pub format: GenFormat,
    /// Number of schools people are spread over.
    pub schools: u32,
    /// Share of students (percent) placed one school and one grade further on.
    pub drift_percent: u32,
    /// Share of people (percent) left out of the export, and as many newcomers added after
    /// the first `rows` people.
    pub turnover_percent: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            rows: 100,
            seed: 1,
            format: GenFormat::OneRoster12,
            schools: 20,
            drift_percent: 0,
            turnover_percent: 0,
        }
    }
}

const GIVEN: [&str; 24] = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "Niklaus",
    "Shafi",
    "Tim",
    "Mary",
    "John",
    "Sophie",
    "Leslie",
    "Adele",
    "Guido",
    "Carol",
];
const FAMILY: [&str; 24] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Wirth",
    "Goldwasser",
    "Berners",
    "Keller",
    "McCarthy",
    "Wilson",
    "Lamport",
    "Goldberg",
    "Rossum",
    "Shaw",
];
const GRADES: [&str; 14] = [
    "PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12",
];

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One generated person.
pub struct Person {
    pub id: String,
    pub username: String,
    pub given: &'static str,
    pub family: &'static str,
    pub email: String,
    /// OneRoster role.
    pub role: &'static str,
    pub grade: Option<&'static str>,
    pub school: u32,
}

impl GenOptions {
    /// Person `i`.
    #[must_use]
    pub fn person(&self, i: u64) -> Person {
        let r = mix(self.seed ^ mix(i));
        let given = GIVEN[(r % 24) as usize];
        let family = FAMILY[((r >> 8) % 24) as usize];
        let role = match (r >> 16) % 100 {
            0..=89 => "student",
            90..=95 => "teacher",
            96..=97 => "aide",
            _ => "administrator",
        };
        let mut school = u32::try_from(i % u64::from(self.schools.max(1))).unwrap_or(0);
        let mut grade_idx = ((r >> 24) % 13) as usize;
        if role == "student" && ((r >> 40) % 100) < u64::from(self.drift_percent) {
            school = (school + 1) % self.schools.max(1);
            grade_idx += 1;
        }
        let username = format!(
            "{}.{}{i}",
            given.to_ascii_lowercase(),
            family.to_ascii_lowercase()
        );
        Person {
            id: format!("u{i:08}"),
            email: format!("{username}@example.org"),
            username,
            given,
            family,
            role,
            grade: (role == "student").then(|| GRADES[grade_idx.min(13)]),
            school,
        }
    }
}

impl GenOptions {
    /// The indexes of the people in the export: the first `rows` but those who left, then the
    /// newcomers.
    pub fn people(&self) -> impl Iterator<Item = u64> + '_ {
        let turnover = u64::from(self.turnover_percent.min(100));
        let newcomers = self.rows * turnover / 100;
        (0..self.rows)
            .filter(move |&i| turnover == 0 || (mix(self.seed ^ mix(i)) >> 48) % 100 >= turnover)
            .chain(self.rows..self.rows + newcomers)
    }
}

/// Writes a roster to `out`: a file for `csv`; a folder, or a `.zip` file, for OneRoster.
///
/// # Errors
/// The output cannot be written.
pub fn generate(opts: &GenOptions, out: &Path) -> std::io::Result<()> {
    match opts.format {
        GenFormat::Csv => {
            let f = BufWriter::with_capacity(1 << 20, File::create(out)?);
            write_own(opts, f)
        }
        GenFormat::OneRoster12
            if out
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("zip")) =>
        {
            let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(out)?));
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(opts.rows > 2_000_000);
            for (name, part) in PARTS {
                zip.start_file(name, o).map_err(std::io::Error::other)?;
                part(opts, &mut zip)?;
            }
            zip.finish().map_err(std::io::Error::other)?.flush()
        }
        GenFormat::OneRoster12 => {
            std::fs::create_dir_all(out)?;
            for (name, part) in PARTS {
                let mut f = BufWriter::with_capacity(1 << 20, File::create(out.join(name))?);
                part(opts, &mut f)?;
                f.flush()?;
            }
            Ok(())
        }
    }
}

type Part = fn(&GenOptions, &mut dyn Write) -> std::io::Result<()>;

const PARTS: [(&str, Part); 4] = [
    ("manifest.csv", write_manifest),
    ("orgs.csv", write_orgs),
    ("users.csv", write_users),
    ("roles.csv", write_roles),
];

fn write_manifest(_: &GenOptions, w: &mut dyn Write) -> std::io::Result<()> {
    let mut s = String::from("propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\n");
    for f in [
        "academicSessions",
        "categories",
        "classes",
        "classResources",
        "courses",
        "courseResources",
        "demographics",
        "enrollments",
        "lineItemLearningObjectiveIds",
        "lineItems",
        "lineItemScoreScales",
        "resources",
        "resultLearningObjectiveIds",
        "results",
        "resultScoreScales",
        "scoreScales",
        "userProfiles",
        "userResources",
    ] {
        s.push_str(&format!("file.{f},absent\n"));
    }
    s.push_str("file.orgs,bulk\nfile.roles,bulk\nfile.users,bulk\nsource.systemName,Command Center generator\nsource.systemCode,cc-gen\n");
    w.write_all(s.as_bytes())
}

fn write_orgs(o: &GenOptions, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        w,
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId"
    )?;
    writeln!(w, "d0,,,Generated Unified School District,district,gusd,")?;
    for k in 0..o.schools.max(1) {
        writeln!(w, "s{k},,,Generated School {k},school,school-{k},d0")?;
    }
    Ok(())
}

fn write_users(o: &GenOptions, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns")?;
    for i in o.people() {
        let p = o.person(i);
        writeln!(
            w,
            "{},,,true,{},,{},{},,{},{},,,,{},,,,,,,s{},",
            p.id,
            p.username,
            p.given,
            p.family,
            p.id,
            p.email,
            p.grade.unwrap_or(""),
            p.school
        )?;
    }
    Ok(())
}

fn write_roles(o: &GenOptions, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId")?;
    for i in o.people() {
        let p = o.person(i);
        writeln!(w, "r{i:08},,,{},primary,{},,,s{},", p.id, p.role, p.school)?;
    }
    Ok(())
}

fn write_own(o: &GenOptions, mut w: impl Write) -> std::io::Result<()> {
    writeln!(w, "{}", crate::read::OWN_HEADER.join(","))?;
    for i in o.people() {
        let p = o.person(i);
        let role = match p.role {
            "aide" => "staff",
            r => r,
        };
        writeln!(
            w,
            "{},{},{},{},{},{},{},school-{},,active",
            p.id,
            p.username,
            p.given,
            p.family,
            p.email,
            role,
            p.grade.unwrap_or(""),
            p.school
        )?;
    }
    w.flush()
}
