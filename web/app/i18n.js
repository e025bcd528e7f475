// Dictionary of the self-service page: English, Russian and Chinese.
// t(key, vars) looks a string up in the current language, falling back to
// English; {name} in a string is replaced by vars.name.

const en = {
  title: "Your security tokens",
  intro: "Tokens plugged into this computer, their certificates and PINs. Nothing leaves this computer: the page talks only to the local agent.",
  language: "Language",
  connecting: "Connecting to the agent…",
  noTokens: "No token found. Plug in your token; it appears here by itself.",
  unreachable: "The tokenagent service is not running on this computer. Install it from your certificate issuer's site, or start it with \"tokenagent service start\" (Windows: Services → tokenagent → Start). This page reconnects by itself.",
  reconnected: "Connected to the agent again.",
  serial: "Serial",
  readOnly: "read-only",
  legacy: "Legacy media",
  media: "Media",
  pinOk: "PIN OK",
  pinCountLow: "PIN: wrong attempts made",
  pinFinalTry: "PIN: one try left",
  pinLocked: "PIN locked",
  pinNotSet: "PIN not set",
  soLocked: "Unlock code locked",
  certificates: "Certificates",
  noCerts: "No certificates on this token.",
  subject: "Subject",
  issuer: "Issuer",
  validUntil: "Valid until",
  status: "Status",
  remaining: "Remaining",
  valid: "Valid",
  expiring: "Expires in {n} days",
  expired: "Expired",
  notYetValid: "Not yet valid",
  changePin: "Change PIN",
  unlockPin: "Unlock PIN",
  unlockHint: "Your PIN is locked. Enter the unlock code (SO PIN / PUK) from your issuer and choose a new PIN.",
  signFile: "Sign a file",
  mediaCheck: "Check media upgrade",
  currentPin: "Current PIN",
  newPin: "New PIN",
  repeatPin: "Repeat the new PIN",
  unlockCode: "Unlock code (SO PIN)",
  pin: "PIN",
  file: "File",
  certificate: "Certificate",
  confirmFinal: "I understand this is the last try before the PIN locks",
  submitChange: "Change PIN",
  submitUnlock: "Unlock",
  submitSign: "Sign and download .p7s",
  submitCheck: "Check",
  working: "Working…",
  pinChanged: "The PIN was changed.",
  pinUnlocked: "The PIN was unlocked and set.",
  pinMismatch: "The two new PINs differ.",
  signed: "Signed. The signature {name} was downloaded.",
  downloadAgain: "Download {name} again",
  hashing: "Computing the file's SHA-256…",
  chooseFile: "Choose a file first.",
  mediaLegacy: "This is legacy media; upgrade to {to}.",
  mediaCurrent: "This media is current; no upgrade needed.",
  mediaRemaining: "Remaining on the certificate",
  mediaCarry: "Carries over to the new media",
  mediaCredit: "Becomes credit",
  years: { one: "{n} year", other: "{n} years" },
  months: { one: "{n} month", other: "{n} months" },
  days: { one: "{n} day", other: "{n} days" },
  renew: "Renew a certificate",
  renewIntro: "Step 1: a new key is made on the token with a request (CSR) for your issuer. Step 2: paste or upload the certificate the issuer sends back.",
  submitPrepare: "Create new key and request",
  csr: "Certificate request (CSR) for your issuer",
  copy: "Copy",
  copied: "Copied.",
  downloadCsr: "Download {name}",
  issuedCert: "Issued certificate (PEM)",
  issuedFile: "…or the certificate file",
  removeOld: "Remove the old certificate and its key",
  submitComplete: "Store the new certificate",
  prepared: "The new key and the request are ready. Send the request to your issuer.",
  renewed: "The new certificate is stored on the token.",
  noIssued: "Paste or choose the issued certificate first.",
  none: "nothing",
  err: {
    PIN_INCORRECT: "Wrong PIN.",
    PIN_INCORRECT_LOW: "Wrong PIN. Several wrong attempts have been made; be careful.",
    PIN_INCORRECT_FINAL: "Wrong PIN. Only one try is left: one more wrong PIN locks the token.",
    PIN_LOCKED: "The PIN is locked. Unlock it with the unlock code from your issuer (below).",
    PIN_FINAL_TRY: "Only one try is left. Tick the confirmation box and enter the PIN again.",
    PIN_INVALID: "The new PIN must have {min} to {max} characters.",
    SO_PIN_INCORRECT: "Wrong unlock code.",
    SO_PIN_INCORRECT_FINAL: "Wrong unlock code. One try is left before the token must be re-issued.",
    SO_PIN_LOCKED: "The unlock code is locked. Ask your issuer to re-initialise the token.",
    RATE_LIMITED: "Too many wrong PINs. Wait {n} seconds and try again.",
    TOKEN_NOT_FOUND: "The token is no longer plugged in.",
    TOKEN_REMOVED: "The token was removed during the operation. Plug it in and try again.",
    OBJECT_NOT_FOUND: "The certificate is no longer on the token.",
    TOKEN_READ_ONLY: "The token is read-only.",
    MECHANISM_UNSUPPORTED: "The token cannot sign with this algorithm.",
    DEVICE_ERROR: "The token or its reader failed: {msg}",
    PERMISSION_DENIED: "This page may not do that.",
    TIMEOUT: "The agent did not answer in time. Try again.",
    AGENT_UNREACHABLE: "The tokenagent service is not running. Install it from your issuer's site or start it with \"tokenagent service start\", then try again.",
    other: "Something went wrong: {msg}",
  },
};

const ru = {
  title: "Ваши ключевые носители",
  intro: "Подключённые к компьютеру токены, их сертификаты и PIN-коды. Данные не покидают компьютер: страница обращается только к локальному агенту.",
  language: "Язык",
  connecting: "Подключение к агенту…",
  noTokens: "Токены не найдены. Подключите токен — он появится здесь сам.",
  unreachable: "Служба tokenagent не запущена на этом компьютере. Установите её с сайта удостоверяющего центра или запустите командой «tokenagent service start» (Windows: Службы → tokenagent → Запустить). Страница переподключится сама.",
  reconnected: "Связь с агентом восстановлена.",
  serial: "Серийный номер",
  readOnly: "только чтение",
  legacy: "Устаревший носитель",
  media: "Носитель",
  pinOk: "PIN в порядке",
  pinCountLow: "PIN: были неверные попытки",
  pinFinalTry: "PIN: осталась одна попытка",
  pinLocked: "PIN заблокирован",
  pinNotSet: "PIN не задан",
  soLocked: "Код разблокировки заблокирован",
  certificates: "Сертификаты",
  noCerts: "На токене нет сертификатов.",
  subject: "Владелец",
  issuer: "Издатель",
  validUntil: "Действует до",
  status: "Состояние",
  remaining: "Осталось",
  valid: "Действует",
  expiring: "Истекает через {n} дн.",
  expired: "Истёк",
  notYetValid: "Ещё не действует",
  changePin: "Сменить PIN",
  unlockPin: "Разблокировать PIN",
  unlockHint: "PIN заблокирован. Введите код разблокировки (SO PIN / PUK) от удостоверяющего центра и новый PIN.",
  signFile: "Подписать файл",
  mediaCheck: "Проверить замену носителя",
  currentPin: "Текущий PIN",
  newPin: "Новый PIN",
  repeatPin: "Повторите новый PIN",
  unlockCode: "Код разблокировки (SO PIN)",
  pin: "PIN",
  file: "Файл",
  certificate: "Сертификат",
  confirmFinal: "Я понимаю, что это последняя попытка перед блокировкой PIN",
  submitChange: "Сменить PIN",
  submitUnlock: "Разблокировать",
  submitSign: "Подписать и скачать .p7s",
  submitCheck: "Проверить",
  working: "Выполняется…",
  pinChanged: "PIN изменён.",
  pinUnlocked: "PIN разблокирован и задан заново.",
  pinMismatch: "Новые PIN-коды не совпадают.",
  signed: "Подписано. Подпись {name} скачана.",
  downloadAgain: "Скачать {name} ещё раз",
  hashing: "Вычисление SHA-256 файла…",
  chooseFile: "Сначала выберите файл.",
  mediaLegacy: "Это устаревший носитель; замените его на {to}.",
  mediaCurrent: "Носитель актуален, замена не нужна.",
  mediaRemaining: "Осталось у сертификата",
  mediaCarry: "Переносится на новый носитель",
  mediaCredit: "Засчитывается в счёт оплаты",
  years: { one: "{n} год", few: "{n} года", many: "{n} лет", other: "{n} года" },
  months: { one: "{n} месяц", few: "{n} месяца", many: "{n} месяцев", other: "{n} месяца" },
  days: { one: "{n} день", few: "{n} дня", many: "{n} дней", other: "{n} дня" },
  renew: "Продлить сертификат",
  renewIntro: "Шаг 1: на токене создаётся новый ключ и запрос (CSR) для удостоверяющего центра. Шаг 2: вставьте или загрузите выданный сертификат.",
  submitPrepare: "Создать ключ и запрос",
  csr: "Запрос на сертификат (CSR) для удостоверяющего центра",
  copy: "Копировать",
  copied: "Скопировано.",
  downloadCsr: "Скачать {name}",
  issuedCert: "Выданный сертификат (PEM)",
  issuedFile: "…или файл сертификата",
  removeOld: "Удалить старый сертификат и его ключ",
  submitComplete: "Записать новый сертификат",
  prepared: "Новый ключ и запрос готовы. Отправьте запрос в удостоверяющий центр.",
  renewed: "Новый сертификат записан на токен.",
  noIssued: "Сначала вставьте или выберите выданный сертификат.",
  none: "ничего",
  err: {
    PIN_INCORRECT: "Неверный PIN.",
    PIN_INCORRECT_LOW: "Неверный PIN. Было уже несколько неверных попыток, будьте внимательны.",
    PIN_INCORRECT_FINAL: "Неверный PIN. Осталась одна попытка: ещё один неверный PIN заблокирует токен.",
    PIN_LOCKED: "PIN заблокирован. Разблокируйте его кодом разблокировки от удостоверяющего центра (ниже).",
    PIN_FINAL_TRY: "Осталась одна попытка. Отметьте подтверждение и введите PIN ещё раз.",
    PIN_INVALID: "Новый PIN должен содержать от {min} до {max} символов.",
    SO_PIN_INCORRECT: "Неверный код разблокировки.",
    SO_PIN_INCORRECT_FINAL: "Неверный код разблокировки. Осталась одна попытка, затем токен придётся выпускать заново.",
    SO_PIN_LOCKED: "Код разблокировки заблокирован. Обратитесь в удостоверяющий центр для переинициализации токена.",
    RATE_LIMITED: "Слишком много неверных PIN. Подождите {n} с и повторите.",
    TOKEN_NOT_FOUND: "Токен больше не подключён.",
    TOKEN_REMOVED: "Токен извлечён во время операции. Подключите его и повторите.",
    OBJECT_NOT_FOUND: "Сертификата больше нет на токене.",
    TOKEN_READ_ONLY: "Токен доступен только для чтения.",
    MECHANISM_UNSUPPORTED: "Токен не поддерживает этот алгоритм подписи.",
    DEVICE_ERROR: "Ошибка токена или считывателя: {msg}",
    PERMISSION_DENIED: "Этой странице это не разрешено.",
    TIMEOUT: "Агент не ответил вовремя. Повторите попытку.",
    AGENT_UNREACHABLE: "Служба tokenagent не запущена. Установите её с сайта удостоверяющего центра или запустите командой «tokenagent service start» и повторите.",
    other: "Ошибка: {msg}",
  },
};

const zh = {
  title: "您的安全令牌",
  intro: "插入本机的令牌、证书和 PIN 码。数据不会离开本机：本页面只与本地代理通信。",
  language: "语言",
  connecting: "正在连接代理…",
  noTokens: "未找到令牌。插入令牌后会自动显示在这里。",
  unreachable: "本机未运行 tokenagent 服务。请从证书颁发机构网站安装，或运行 \"tokenagent service start\" 启动（Windows：服务 → tokenagent → 启动）。页面会自动重新连接。",
  reconnected: "已重新连接到代理。",
  serial: "序列号",
  readOnly: "只读",
  legacy: "旧版介质",
  media: "介质",
  pinOk: "PIN 正常",
  pinCountLow: "PIN：已有错误尝试",
  pinFinalTry: "PIN：仅剩一次机会",
  pinLocked: "PIN 已锁定",
  pinNotSet: "未设置 PIN",
  soLocked: "解锁码已锁定",
  certificates: "证书",
  noCerts: "此令牌上没有证书。",
  subject: "主体",
  issuer: "颁发者",
  validUntil: "有效期至",
  status: "状态",
  remaining: "剩余",
  valid: "有效",
  expiring: "{n} 天后过期",
  expired: "已过期",
  notYetValid: "尚未生效",
  changePin: "修改 PIN",
  unlockPin: "解锁 PIN",
  unlockHint: "您的 PIN 已锁定。请输入颁发机构提供的解锁码（SO PIN / PUK）并设置新 PIN。",
  signFile: "签名文件",
  mediaCheck: "检查介质升级",
  currentPin: "当前 PIN",
  newPin: "新 PIN",
  repeatPin: "再次输入新 PIN",
  unlockCode: "解锁码（SO PIN）",
  pin: "PIN",
  file: "文件",
  certificate: "证书",
  confirmFinal: "我了解这是 PIN 锁定前的最后一次尝试",
  submitChange: "修改 PIN",
  submitUnlock: "解锁",
  submitSign: "签名并下载 .p7s",
  submitCheck: "检查",
  working: "处理中…",
  pinChanged: "PIN 已修改。",
  pinUnlocked: "PIN 已解锁并重新设置。",
  pinMismatch: "两次输入的新 PIN 不一致。",
  signed: "已签名。签名文件 {name} 已下载。",
  downloadAgain: "再次下载 {name}",
  hashing: "正在计算文件的 SHA-256…",
  chooseFile: "请先选择文件。",
  mediaLegacy: "这是旧版介质，请升级到 {to}。",
  mediaCurrent: "介质为最新，无需升级。",
  mediaRemaining: "证书剩余有效期",
  mediaCarry: "转移到新介质",
  mediaCredit: "转为抵扣额度",
  years: { other: "{n} 年" },
  months: { other: "{n} 个月" },
  days: { other: "{n} 天" },
  renew: "续期证书",
  renewIntro: "第 1 步：在令牌上生成新密钥和证书请求（CSR）发给颁发机构。第 2 步：粘贴或上传颁发机构返回的证书。",
  submitPrepare: "生成新密钥和请求",
  csr: "发给颁发机构的证书请求（CSR）",
  copy: "复制",
  copied: "已复制。",
  downloadCsr: "下载 {name}",
  issuedCert: "颁发的证书（PEM）",
  issuedFile: "…或证书文件",
  removeOld: "删除旧证书及其密钥",
  submitComplete: "保存新证书",
  prepared: "新密钥和请求已生成。请将请求发送给颁发机构。",
  renewed: "新证书已保存到令牌。",
  noIssued: "请先粘贴或选择颁发的证书。",
  none: "无",
  err: {
    PIN_INCORRECT: "PIN 错误。",
    PIN_INCORRECT_LOW: "PIN 错误。已有多次错误尝试，请小心。",
    PIN_INCORRECT_FINAL: "PIN 错误。仅剩一次机会：再错一次令牌将被锁定。",
    PIN_LOCKED: "PIN 已锁定。请使用颁发机构提供的解锁码解锁（见下方）。",
    PIN_FINAL_TRY: "仅剩一次机会。请勾选确认框并重新输入 PIN。",
    PIN_INVALID: "新 PIN 长度必须为 {min} 到 {max} 个字符。",
    SO_PIN_INCORRECT: "解锁码错误。",
    SO_PIN_INCORRECT_FINAL: "解锁码错误。仅剩一次机会，之后令牌必须重新签发。",
    SO_PIN_LOCKED: "解锁码已锁定。请联系颁发机构重新初始化令牌。",
    RATE_LIMITED: "PIN 错误次数过多。请等待 {n} 秒后重试。",
    TOKEN_NOT_FOUND: "令牌已拔出。",
    TOKEN_REMOVED: "操作过程中令牌被拔出。请重新插入后重试。",
    OBJECT_NOT_FOUND: "令牌上已没有该证书。",
    TOKEN_READ_ONLY: "令牌为只读。",
    MECHANISM_UNSUPPORTED: "令牌不支持此签名算法。",
    DEVICE_ERROR: "令牌或读卡器故障：{msg}",
    PERMISSION_DENIED: "本页面无权执行此操作。",
    TIMEOUT: "代理未及时响应，请重试。",
    AGENT_UNREACHABLE: "tokenagent 服务未运行。请从颁发机构网站安装，或运行 \"tokenagent service start\" 启动后重试。",
    other: "出错了：{msg}",
  },
};

export const languages = { en: "English", ru: "Русский", zh: "中文" };
const dicts = { en, ru, zh };
let lang = "en";

// pick returns the supported language for a BCP 47 tag, or "en".
export function pick(tag) {
  const base = String(tag || "").toLowerCase().split("-")[0];
  return base in dicts ? base : "en";
}

export function setLanguage(l) {
  lang = pick(l);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : lang;
}

export function language() {
  return lang;
}

function fill(s, vars) {
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? String(vars[k]) : m));
}

function lookup(path) {
  for (const d of [dicts[lang], en]) {
    let v = d;
    for (const p of path.split(".")) v = v == null ? undefined : v[p];
    if (v !== undefined) return v;
  }
  return undefined;
}

export function t(key, vars) {
  const s = lookup(key);
  return typeof s === "string" ? fill(s, vars) : key;
}

export function has(key) {
  return typeof lookup(key) === "string";
}

// plural formats n with the unit's plural forms ("years", "months", "days").
export function plural(unit, n) {
  const forms = lookup(unit);
  const cat = new Intl.PluralRules(lang).select(n);
  return fill(forms[cat] || forms.other, { n });
}

// span formats {years, months, days}, leaving out zero parts.
export function span(r) {
  const parts = [];
  if (r && r.years) parts.push(plural("years", r.years));
  if (r && r.months) parts.push(plural("months", r.months));
  if (r && r.days) parts.push(plural("days", r.days));
  return parts.length ? parts.join(" ") : t("none");
}
