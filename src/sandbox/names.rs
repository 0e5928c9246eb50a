//! Word lists the data generator draws from. Everything here is fictional; domains use
//! the reserved `.example` TLD so no generated address can reach a real mailbox.

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Dana", "Sam", "Alex", "Jordan", "Priya", "Mateo", "Hannah", "Omar", "Chloe", "Lucas", "Aisha",
    "Noah", "Emma", "Liam", "Sofia", "Ethan", "Mia", "Arjun", "Grace", "Diego", "Fatima", "Ben",
    "Olivia", "Kenji", "Isabel", "Marcus", "Leah", "Tomas", "Nora", "Victor", "Zara", "Felix",
    "Ingrid", "Ravi", "Elena", "Caleb", "Yuki", "Amara", "Jonas", "Clara", "Tariq", "Ruby", "Hugo",
    "Maya", "Oscar", "Lena", "Andre", "Julia", "Kofi", "Ivy", "Rafael", "Sara", "Declan", "Mei",
    "Pablo", "Anya", "Gavin", "Rosa", "Emil", "Tessa", "Malik", "Freya", "Nikhil", "Paige",
    "Stefan", "Lucia", "Connor", "Aaliyah", "Henrik", "Camila", "Darius", "Elise", "Ahmed",
    "Hazel", "Mikael", "Carmen", "Theo", "Naomi", "Quinn", "Selin",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Reyes",
    "Okafor",
    "Lindqvist",
    "Patel",
    "Nakamura",
    "Fischer",
    "Moreau",
    "Haddad",
    "Kowalski",
    "Brennan",
    "Silva",
    "Nguyen",
    "Schmidt",
    "Rossi",
    "Johansson",
    "Mendez",
    "Chen",
    "Ibrahim",
    "Walsh",
    "Dubois",
    "Kaur",
    "Novak",
    "Larsen",
    "Costa",
    "Tanaka",
    "Adeyemi",
    "Murphy",
    "Weber",
    "Romero",
    "Berg",
    "Sato",
    "Kim",
    "Hughes",
    "Ortiz",
    "Petrov",
    "Andersen",
    "Ferreira",
    "Cohen",
    "Yilmaz",
    "Bauer",
    "Lopez",
    "Obi",
    "Clarke",
    "Vidal",
    "Holm",
    "Mehta",
    "Kelly",
    "Jansen",
    "Moretti",
    "Alvarez",
    "Park",
    "Svensson",
    "Gallagher",
    "Hoffman",
    "Ramos",
    "Abbasi",
    "Dunn",
    "Lund",
    "Santos",
    "Wagner",
    "Byrne",
    "Castillo",
    "Eriksen",
    "Marino",
    "Shah",
    "Quinn",
    "Horvat",
    "Delgado",
    "Nash",
    "Varga",
    "Ito",
    "Banerjee",
    "Foster",
    "Keller",
    "Duarte",
    "Lambert",
    "Osei",
    "Sorensen",
    "Rahman",
    "Vogel",
];

pub(crate) const COMPANY_STEMS: &[&str] = &[
    "Ledger", "Harbor", "Quanta", "Nimbus", "Cedar", "Vertex", "Atlas", "Beacon", "Copper",
    "Delta", "Ember", "Fathom", "Granite", "Helix", "Iris", "Juniper", "Kestrel", "Lumen",
    "Meridian", "Nova", "Orbit", "Pioneer", "Quarry", "Ridge", "Summit", "Tandem", "Umbra",
    "Vantage", "Willow", "Zenith", "Aster", "Bolt", "Crest", "Drift", "Echo", "Flint", "Grove",
    "Haven", "Inlet", "Jetty", "Keel", "Lattice", "Mosaic", "North", "Oak", "Prism", "Relay",
    "Signal", "Tide", "Arbor",
];

pub(crate) const COMPANY_SUFFIXES: &[(&str, &str)] = &[
    ("ly", ""),
    ("ify", ""),
    (" Labs", "labs"),
    (" Systems", "systems"),
    (" Analytics", "analytics"),
    (" Health", "health"),
    (" Capital", "capital"),
    (" Logistics", "logistics"),
    (" Cloud", "cloud"),
    (" Works", "works"),
    (" Robotics", "robotics"),
    (" Finance", "finance"),
    ("", "hq"),
    (" Group", "group"),
    (" Software", "soft"),
];

pub(crate) const TLDS: &[&str] = &[
    "example",
    "example.com",
    "example.io",
    "example.co",
    "example.net",
];

/// (location, IANA timezone) pairs; the timezone becomes the lead's `timezone` custom field.
pub(crate) const LOCATIONS: &[(&str, &str)] = &[
    ("New York, NY, USA", "America/New_York"),
    ("Boston, MA, USA", "America/New_York"),
    ("Austin, TX, USA", "America/Chicago"),
    ("Chicago, IL, USA", "America/Chicago"),
    ("Denver, CO, USA", "America/Denver"),
    ("San Francisco, CA, USA", "America/Los_Angeles"),
    ("Seattle, WA, USA", "America/Los_Angeles"),
    ("Toronto, ON, Canada", "America/Toronto"),
    ("London, UK", "Europe/London"),
    ("Dublin, Ireland", "Europe/Dublin"),
    ("Berlin, Germany", "Europe/Berlin"),
    ("Paris, France", "Europe/Paris"),
    ("Amsterdam, Netherlands", "Europe/Amsterdam"),
    ("Stockholm, Sweden", "Europe/Stockholm"),
    ("Lisbon, Portugal", "Europe/Lisbon"),
    ("Singapore", "Asia/Singapore"),
    ("Bangalore, India", "Asia/Kolkata"),
    ("Tokyo, Japan", "Asia/Tokyo"),
    ("Sydney, Australia", "Australia/Sydney"),
    ("Sao Paulo, Brazil", "America/Sao_Paulo"),
];

pub(crate) const TITLES: &[&str] = &[
    "CFO",
    "VP Finance",
    "Head of Operations",
    "CTO",
    "VP Engineering",
    "Head of Growth",
    "Director of Sales",
    "COO",
    "Founder & CEO",
    "Head of RevOps",
    "Controller",
    "VP Marketing",
];

pub(crate) const INDUSTRIES: &[&str] = &[
    "Fintech",
    "Healthcare",
    "Logistics",
    "SaaS",
    "E-commerce",
    "Manufacturing",
    "Insurance",
    "Real Estate",
    "Education",
    "Cybersecurity",
];

pub(crate) const LEAD_SOURCES: &[&str] = &[
    "Apollo export",
    "Conference list",
    "Inbound form",
    "LinkedIn Sales Navigator",
    "Referral",
];

pub(crate) const EMPLOYEE_BANDS: &[&str] = &["11-50", "51-200", "201-500", "501-1000", "1001-5000"];

/// Campaign name parts: "<audience> <angle>".
pub(crate) const CAMPAIGN_AUDIENCES: &[&str] = &[
    "Fintech CFOs",
    "Logistics COOs",
    "SaaS Founders",
    "Healthcare Ops Leads",
    "RevOps Leaders",
    "E-commerce Growth",
    "Insurance IT",
    "Manufacturing Finance",
];

pub(crate) const CAMPAIGN_ANGLES: &[&str] = &[
    "Cost Audit",
    "Q3 Outreach",
    "Webinar Invite",
    "Case Study",
    "Pilot Offer",
    "Benchmark Report",
];

pub(crate) const AGENCY_CLIENTS: &[(&str, &str)] = &[
    ("Acme Outbound", "ops@acme-outbound.example"),
    ("Northwind Growth", "team@northwind-growth.example"),
    ("Bluepeak Partners", "hello@bluepeak.example"),
];

pub(crate) const SENDER_DOMAINS: &[&str] = &[
    "ledger-outreach.example",
    "acme-mail.example",
    "getnorthwind.example",
    "bluepeak-hq.example",
    "trybeacon.example",
];
