// A bidder answers the committee's clarification (templates/evaluation/evaluations.html): the answer document is
// signed here with the organisation's signing key kept in this browser, exactly as crypto.signing does it.

import {api, describe} from "./api.js";
import {parseCertificate} from "./asn1.js";
import {currentKeys, signDocument} from "./keys.js";

let keys;

async function organisationKeys() {
  if (keys === undefined) {
    const {certificates} = await api("GET", "/certificates/mine");
    keys = await currentKeys(certificates, {organisation: true});
  }
  return keys;
}

document.querySelectorAll("form.answer").forEach((form) => {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector("[data-role=error]");
    error.textContent = "";
    try {
      const found = await organisationKeys();
      if (!found) throw new Error("本浏览器中没有本单位的签名证书密钥 (no organisation signing key in this browser)");
      const payload = {...JSON.parse(form.dataset.payload), answer: form.elements.answer.value.trim()};
      const document_ = await signDocument(payload, found.record.signingKey, parseCertificate(found.record.signingCertificate));
      await api("POST", `/evaluation-clarifications/${form.dataset.id}/answer`,
        {json: {document: document_, certificate: found.record.signingCertificate}});
      window.location.reload();
    } catch (problem) {
      error.textContent = describe(problem);
    }
  });
});
