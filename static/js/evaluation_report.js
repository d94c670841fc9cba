// The report page: the agent generates the platform-signed PDF, then publishes it (JSON API, then reload).

import {api, describe} from "./api.js";

document.querySelectorAll("button[data-api]").forEach((button) => {
  button.addEventListener("click", async () => {
    const box = document.querySelector("[data-role=error]");
    button.disabled = true;
    try {
      await api("POST", button.dataset.api);
      window.location.reload();
    } catch (error) {
      box.textContent = describe(error);
      box.hidden = false;
      button.disabled = false;
    }
  });
});
