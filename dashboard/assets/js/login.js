// Sightline sign-in: trades the admin token for an HttpOnly session cookie.
import { post } from "/js/dom.js";

const form = document.getElementById("login");
const errorEl = document.getElementById("login-error");

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  errorEl.textContent = "";
  const token = document.getElementById("token").value;
  try {
    await post("/api/login", { token }, { redirect: false });
    location.replace("/");
  } catch (err) {
    errorEl.textContent = err.status === 401 ? "Wrong token." : "Sign-in failed: " + err.message;
  }
});
