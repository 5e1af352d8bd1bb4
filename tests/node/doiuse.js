// The caniemail check the tests run: HTML on stdin, doiuse-email's errors as a JSON array on stdout.
// The clients: the families whose data doiuse-email holds for every feature (it throws on some
// feature/client pairs missing from its caniemail snapshot, e.g. thunderbird and overflow-wrap).
const { doIUseEmail } = require("@jsx-email/doiuse-email");

const clients = ["gmail.*", "apple-mail.*", "outlook.*", "yahoo.*", "samsung-email.*"];
let html = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { html += chunk; });
process.stdin.on("end", () => {
  const result = doIUseEmail(html, { emailClients: clients });
  process.stdout.write(JSON.stringify(result.errors || []));
});
