// Validating a filled price form (开标一览表) in the page, with the rules of trading/price_form.py, so the
// bidder sees every problem before sealing (nobody can check the form once it is sealed). Returns the same
// normalised values the Python code returns: money "1234567.80", integers as numbers, decimals as
// Python's str(Decimal), dates "2026-03-01".

const FULL_WIDTH = /[\uff10-\uff19\uff0e\uff0d\uff0b]/g;

function halfWidth(text) {
  return text.replace(FULL_WIDTH, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
}

/** Parse a decimal literal as Python's Decimal does (finite values): {negative, digits, exponent}. */
export function parseDecimal(text) {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(halfWidth(text.trim()));
  if (!m || (m[2] === "" && (m[3] === undefined || m[3] === ""))) return null;
  const fraction = m[3] || "";
  const digits = ((m[2] || "") + fraction).replace(/^0+(?=\d)/, "");
  return {negative: m[1] === "-", digits, exponent: Number(m[4] || 0) - fraction.length};
}

/** Python's str(Decimal) (the "to-scientific-string" rule of the General Decimal Arithmetic spec). */
export function decimalString({negative, digits, exponent}) {
  const left = exponent + digits.length;
  const dot = exponent <= 0 && left > -6 ? left : 1;
  let whole;
  let fraction;
  if (dot <= 0) {
    whole = "0";
    fraction = "." + "0".repeat(-dot) + digits;
  } else if (dot >= digits.length) {
    whole = digits + "0".repeat(dot - digits.length);
    fraction = "";
  } else {
    whole = digits.slice(0, dot);
    fraction = "." + digits.slice(dot);
  }
  const power = left - dot;
  const suffix = left === dot ? "" : "E" + (power >= 0 ? "+" : "") + power;
  return (negative ? "-" : "") + whole + fraction + suffix;
}

function money(text) {
  const value = parseDecimal(text.replace(/[,，]/g, ""));
  if (!value) throw new Error("格式不正确 (malformed)");
  if (value.negative || /^0*$/.test(value.digits)) throw new Error("金额应大于0 (amount must be positive)");
  let cents = BigInt(value.digits);
  if (value.exponent + 2 >= 0) {
    cents *= 10n ** BigInt(value.exponent + 2);
  } else {
    const divisor = 10n ** BigInt(-(value.exponent + 2));
    if (cents % divisor !== 0n) throw new Error("金额最多两位小数 (at most two decimals)");
    cents /= divisor;
  }
  const padded = cents.toString().padStart(3, "0");
  return padded.slice(0, -2) + "." + padded.slice(-2);
}

function integer(text) {
  const plain = halfWidth(text.trim());
  if (!/^-?\d+$/.test(plain)) throw new Error("应为整数 (a whole number)");
  const number = Number(plain);
  if (!Number.isSafeInteger(number)) throw new Error("数值过大 (too large)");
  return number;
}

function decimal(text) {
  const value = parseDecimal(text);
  if (!value) throw new Error("格式不正确 (malformed)");
  return decimalString(value);
}

function isoDate(text) {
  const plain = halfWidth(text.trim());
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(plain);
  const moment = m && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (!m || moment.getUTCMonth() !== Number(m[2]) - 1 || moment.getUTCDate() !== Number(m[3]) ||
      (m[0].includes("-") && !/^\d{4}-\d{2}-\d{2}$/.test(plain))) {
    throw new Error("格式不正确 (malformed)");
  }
  return `${m[1]}-${m[2]}-${m[3]}`;
}

/**
 * Validate ``values`` (key → text) against ``fields`` ({key, label, type, required, options}).
 * Returns {clean, problems: [[key, message], ...]}; the form is valid when problems is empty.
 */
export function validatePriceForm(fields, values) {
  const problems = [];
  const clean = {};
  const known = new Set(fields.map((field) => field.key));
  for (const key of Object.keys(values)) {
    if (!known.has(key)) problems.push([key, "开标一览表中没有这个字段 (not a field of the price form)"]);
  }
  for (const field of fields) {
    const raw = values[field.key];
    const text = raw === undefined || raw === null ? "" : String(raw).trim();
    if (!text) {
      if (field.required !== false) problems.push([field.key, `${field.label}：必填 (required)`]);
      continue;
    }
    try {
      if (field.type === "money") clean[field.key] = money(text);
      else if (field.type === "integer") clean[field.key] = integer(text);
      else if (field.type === "decimal") clean[field.key] = decimal(text);
      else if (field.type === "date") clean[field.key] = isoDate(text);
      else if (field.type === "choice") {
        const options = field.options || [];
        if (!options.includes(text)) throw new Error(`应为以下之一：${options.join("、")} (one of the options)`);
        clean[field.key] = text;
      } else {
        if ([...text].length > 500) throw new Error("不超过500字 (at most 500 characters)");
        clean[field.key] = text;
      }
    } catch (error) {
      problems.push([field.key, `${field.label}：${error.message}`]);
    }
  }
  return {clean, problems};
}
