// Dictionary of the self-service page: English, Russian and Chinese.
// t(key, vars) looks a string up in the current language, falling back to
// English; {name} in a string is replaced by vars.name. Every string the
// page shows comes from here, except what an error means, which the
// client's errorMessage says (web/tokenagent.js, the table portals use
// too): the agent's own messages are English and are never shown.

const en = {
  title: "Your security tokens",
  intro: "Tokens plugged into this computer, their certificates and PINs. Nothing leaves this computer: the page talks only to the local agent.",
  language: "Language",
  connecting: "Connecting to the agent…",
  noTokens: "No token found. Plug in your token; it appears here by itself.",
  unreachable: "The tokenagent service is not running on this computer. Install it from your certificate issuer's site, or start it with \"tokenagent service start\" (Windows: Services → tokenagent → Start). This page reconnects by itself.",
  busy: "The tokenagent service is running but has too many connections open right now (another site or program may be holding them). Close other tabs that use it, or wait: this page tries again by itself.",
  reconnected: "Connected to the agent again.",
  serial: "Serial",
  readOnly: "read-only",
  legacy: "Legacy media",
  media: "Media",
  pinOk: "PIN OK",
  pinCountLow: "PIN: a wrong PIN was entered",
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
  // What needs doing, first on each card.
  taskUnlock: "Your PIN is locked",
  taskUnlockText: "Enter the unlock code (SO PIN / PUK) your issuer gave you and choose a new PIN.",
  taskBothLocked: "The PIN and the unlock code are both locked. Only your issuer can re-initialise this token.",
  taskExpiring: "“{cn}” expires in {n} days ({date})",
  taskExpired: "“{cn}” expired on {date}",
  taskRenewText: "Renew it: a new key and a request (CSR) for your issuer are made on the token. When the issuer sends the certificate back, even days later, paste it here.",
  renewNow: "Renew now",
  taskPending: "Renewal of “{cn}” started on {date}",
  taskPendingText: "Waiting for the certificate from your issuer. Send them the request (CSR) below if you have not yet; when the certificate arrives, paste it here.",
  taskKey: "A key without a certificate",
  taskKeyLabel: "A key without a certificate: {label}",
  taskKeyText: "A request (CSR) for this key may be waiting at your issuer. Paste the certificate when it arrives, or discard the key if you no longer need it.",
  taskEnrol: "No certificate on this token yet",
  taskEnrolText: "To get one, make a key on the token and a request (CSR) for your issuer, then paste here the certificate they send back.",
  taskMedia: "This token is legacy media: {desc}",
  taskMediaNoDesc: "This token is legacy media",
  mediaExplain: "Your certificate has {remaining} left. When you move to new media, {carry} of it carries over: the certificate on the new media is valid that long. The remaining {credit} becomes credit with your issuer.",
  mediaExplainNoCarry: "Your certificate has {remaining} left, less than the {rule} that carry over to new media, so nothing carries over: all {credit} becomes credit with your issuer.",
  mediaExplainNothing: "No certificate lifetime is left on this token to carry over.",
  mediaNext: "What to do next: ask your issuer for new media. Keep using this token until it arrives, then get your certificate on the new media.",
  mediaNextTarget: "What to do next: ask your issuer for new media, {target}. Keep using this token until it arrives, then get your certificate on the new media.",
  mediaRemaining: "Left on the certificate",
  mediaCarry: "Carries over to the new media",
  mediaCredit: "Becomes credit",
  throttledUnlock: "Forgot the PIN? The unlock code from your issuer still works (“Unlock PIN”).",
  throttleOver: "You can try again now.",
  signExpiring: "This certificate expires in {n} days ({date}). Signatures made now are valid, but renew it soon.",
  signExpired: "This certificate expired on {date}: signatures made with it are not accepted. Renew it first.",
  signNotYet: "This certificate is not valid yet.",
  // The forms.
  moreActions: "Other actions",
  changePin: "Change PIN",
  unlockPin: "Unlock PIN",
  unlockHint: "Forgot the PIN? Enter the unlock code (SO PIN / PUK) from your issuer and choose a new PIN.",
  signFile: "Sign a file",
  currentPin: "Current PIN",
  newPin: "New PIN",
  repeatPin: "Repeat the new PIN",
  unlockCode: "Unlock code (SO PIN)",
  pin: "PIN",
  file: "File",
  certificate: "Certificate",
  confirmFinal: "I understand this is the last try before the PIN locks",
  padPin: "This token's reader has a PIN pad: type the PIN on the reader when it asks. This page asks for none.",
  padChange: "This token's reader has a PIN pad: when it asks, type the current PIN and then the new one on the reader. This page asks for none.",
  padUnlock: "This token's reader has a PIN pad: when it asks, type the unlock code (SO PIN) and then the new PIN on the reader. This page asks for none.",
  noLoginPin: "This token needs no PIN for this: the agent uses it without logging in.",
  submitChange: "Change PIN",
  submitUnlock: "Unlock",
  submitSign: "Sign and download .p7s",
  working: "Working…",
  pinChanged: "The PIN was changed.",
  pinUnlocked: "The PIN was unlocked and set.",
  pinMismatch: "The two new PINs differ.",
  signed: "Signed. The signature {name} was downloaded.",
  downloadAgain: "Download {name} again",
  hashing: "Computing the file's SHA-256…",
  chooseFile: "Choose a file first.",
  years: { one: "{n} year", other: "{n} years" },
  months: { one: "{n} month", other: "{n} months" },
  days: { one: "{n} day", other: "{n} days" },
  renew: "Renew a certificate",
  renewIntro: "A new key and a request (CSR) for your issuer are made on the token. The renewal waits on this page, across reloads and restarts, until you paste the certificate the issuer sends back.",
  submitPrepare: "Create new key and request",
  commonName: "Your name, as the certificate should say it",
  algorithm: "Key type",
  submitEnrol: "Make key and request",
  csr: "The request (CSR) for your issuer",
  remakeCsr: "Make the request again",
  submitRemake: "Make the request",
  copy: "Copy",
  copied: "Copied.",
  downloadCsr: "Download {name}",
  pasteIssued: "Paste the issued certificate",
  issuedCert: "Issued certificate (PEM)",
  issuedFile: "…or the certificate file",
  removeOld: "Then remove the old certificate and its key",
  submitComplete: "Store the certificate",
  discard: "Discard",
  discardText: "Deletes the new key from the token. A request already sent for it can no longer be used.",
  submitDiscard: "Discard the new key",
  discarded: "Discarded: the new key was deleted from the token.",
  prepared: "The new key and the request are ready. Send the request to your issuer; the renewal waits at the top of this card.",
  enrolled: "The key and the request are ready. Send the request to your issuer.",
  renewed: "The new certificate is stored on the token.",
  noIssued: "Paste or choose the issued certificate first.",
  none: "nothing",
  notCertificate: "That is not a certificate. Paste the text that starts with -----BEGIN CERTIFICATE-----, or choose the file your issuer sent.",
};

const ru = {
  title: "Ваши ключевые носители",
  intro: "Подключённые к компьютеру токены, их сертификаты и PIN-коды. Данные не покидают компьютер: страница обращается только к локальному агенту.",
  language: "Язык",
  connecting: "Подключение к агенту…",
  noTokens: "Токены не найдены. Подключите токен — он появится здесь сам.",
  unreachable: "Служба tokenagent не запущена на этом компьютере. Установите её с сайта удостоверяющего центра или запустите командой «tokenagent service start» (Windows: Службы → tokenagent → Запустить). Страница переподключится сама.",
  busy: "Служба tokenagent запущена, но сейчас у неё открыто слишком много соединений (их может удерживать другой сайт или программа). Закройте другие вкладки, которые её используют, или подождите: страница повторит попытку сама.",
  reconnected: "Связь с агентом восстановлена.",
  serial: "Серийный номер",
  readOnly: "только чтение",
  legacy: "Устаревший носитель",
  media: "Носитель",
  pinOk: "PIN в порядке",
  pinCountLow: "PIN: был введён неверный PIN",
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
  taskUnlock: "PIN заблокирован",
  taskUnlockText: "Введите код разблокировки (SO PIN / PUK), выданный удостоверяющим центром, и задайте новый PIN.",
  taskBothLocked: "Заблокированы и PIN, и код разблокировки. Переинициализировать токен может только удостоверяющий центр.",
  taskExpiring: "«{cn}» истекает через {n} дн. ({date})",
  taskExpired: "«{cn}» истёк {date}",
  taskRenewText: "Продлите его: на токене создаются новый ключ и запрос (CSR) для удостоверяющего центра. Когда центр пришлёт сертификат, хоть через несколько дней, вставьте его здесь.",
  renewNow: "Продлить сейчас",
  taskPending: "Продление «{cn}» начато {date}",
  taskPendingText: "Ожидается сертификат от удостоверяющего центра. Отправьте ему запрос (CSR) ниже, если ещё не отправили; когда сертификат придёт, вставьте его здесь.",
  taskKey: "Ключ без сертификата",
  taskKeyLabel: "Ключ без сертификата: {label}",
  taskKeyText: "Запрос (CSR) на этот ключ может ждать в удостоверяющем центре. Вставьте сертификат, когда он придёт, или удалите ключ, если он больше не нужен.",
  taskEnrol: "На токене ещё нет сертификата",
  taskEnrolText: "Чтобы получить его, создайте на токене ключ и запрос (CSR) для удостоверяющего центра, затем вставьте сюда присланный сертификат.",
  taskMedia: "Это устаревший носитель: {desc}",
  taskMediaNoDesc: "Это устаревший носитель",
  mediaExplain: "У сертификата осталось {remaining}. При переходе на новый носитель переносится {carry}: столько будет действовать сертификат на новом носителе. Остаток, {credit}, засчитывается в удостоверяющем центре.",
  mediaExplainNoCarry: "У сертификата осталось {remaining} — меньше срока переноса на новый носитель ({rule}), поэтому ничего не переносится: все {credit} засчитываются в удостоверяющем центре.",
  mediaExplainNothing: "У сертификатов на этом токене не осталось срока для переноса.",
  mediaNext: "Что делать дальше: закажите новый носитель в удостоверяющем центре. Пользуйтесь этим токеном, пока новый не придёт, затем получите сертификат на новый носитель.",
  mediaNextTarget: "Что делать дальше: закажите в удостоверяющем центре новый носитель — {target}. Пользуйтесь этим токеном, пока новый не придёт, затем получите сертификат на новый носитель.",
  mediaRemaining: "Осталось у сертификата",
  mediaCarry: "Переносится на новый носитель",
  mediaCredit: "Засчитывается",
  throttledUnlock: "Забыли PIN? Код разблокировки от удостоверяющего центра по-прежнему работает («Разблокировать PIN»).",
  throttleOver: "Можно попробовать снова.",
  signExpiring: "Сертификат истекает через {n} дн. ({date}). Подписи, сделанные сейчас, действительны, но продлите его в ближайшее время.",
  signExpired: "Сертификат истёк {date}: подписи с ним не принимаются. Сначала продлите его.",
  signNotYet: "Сертификат ещё не действует.",
  moreActions: "Другие действия",
  changePin: "Сменить PIN",
  unlockPin: "Разблокировать PIN",
  unlockHint: "Забыли PIN? Введите код разблокировки (SO PIN / PUK) от удостоверяющего центра и задайте новый PIN.",
  signFile: "Подписать файл",
  currentPin: "Текущий PIN",
  newPin: "Новый PIN",
  repeatPin: "Повторите новый PIN",
  unlockCode: "Код разблокировки (SO PIN)",
  pin: "PIN",
  file: "Файл",
  certificate: "Сертификат",
  confirmFinal: "Я понимаю, что это последняя попытка перед блокировкой PIN",
  padPin: "У считывателя этого токена есть PIN-клавиатура: когда он попросит, введите PIN на считывателе. На этой странице PIN не вводится.",
  padChange: "У считывателя этого токена есть PIN-клавиатура: когда он попросит, введите на считывателе текущий PIN, а затем новый. На этой странице PIN не вводится.",
  padUnlock: "У считывателя этого токена есть PIN-клавиатура: когда он попросит, введите на считывателе код разблокировки (SO PIN), а затем новый PIN. На этой странице PIN не вводится.",
  noLoginPin: "Для этого действия токену не нужен PIN: агент работает с ним без входа.",
  submitChange: "Сменить PIN",
  submitUnlock: "Разблокировать",
  submitSign: "Подписать и скачать .p7s",
  working: "Выполняется…",
  pinChanged: "PIN изменён.",
  pinUnlocked: "PIN разблокирован и задан заново.",
  pinMismatch: "Новые PIN-коды не совпадают.",
  signed: "Подписано. Подпись {name} скачана.",
  downloadAgain: "Скачать {name} ещё раз",
  hashing: "Вычисление SHA-256 файла…",
  chooseFile: "Сначала выберите файл.",
  years: { one: "{n} год", few: "{n} года", many: "{n} лет", other: "{n} года" },
  months: { one: "{n} месяц", few: "{n} месяца", many: "{n} месяцев", other: "{n} месяца" },
  days: { one: "{n} день", few: "{n} дня", many: "{n} дней", other: "{n} дня" },
  renew: "Продлить сертификат",
  renewIntro: "На токене создаются новый ключ и запрос (CSR) для удостоверяющего центра. Продление ждёт на этой странице, в том числе после перезагрузки и перезапуска, пока вы не вставите присланный сертификат.",
  submitPrepare: "Создать ключ и запрос",
  commonName: "Ваше имя, как оно должно быть в сертификате",
  algorithm: "Тип ключа",
  submitEnrol: "Создать ключ и запрос",
  csr: "Запрос (CSR) для удостоверяющего центра",
  remakeCsr: "Создать запрос заново",
  submitRemake: "Создать запрос",
  copy: "Копировать",
  copied: "Скопировано.",
  downloadCsr: "Скачать {name}",
  pasteIssued: "Вставить выданный сертификат",
  issuedCert: "Выданный сертификат (PEM)",
  issuedFile: "…или файл сертификата",
  removeOld: "Затем удалить старый сертификат и его ключ",
  submitComplete: "Записать сертификат",
  discard: "Отменить",
  discardText: "Удаляет новый ключ с токена. Уже отправленный на него запрос станет бесполезен.",
  submitDiscard: "Удалить новый ключ",
  discarded: "Отменено: новый ключ удалён с токена.",
  prepared: "Новый ключ и запрос готовы. Отправьте запрос в удостоверяющий центр; продление ждёт вверху карточки.",
  enrolled: "Ключ и запрос готовы. Отправьте запрос в удостоверяющий центр.",
  renewed: "Новый сертификат записан на токен.",
  noIssued: "Сначала вставьте или выберите выданный сертификат.",
  none: "ничего",
  notCertificate: "Это не сертификат. Вставьте текст, начинающийся с -----BEGIN CERTIFICATE-----, или выберите файл, присланный удостоверяющим центром.",
};

const zh = {
  title: "您的安全令牌",
  intro: "插入本机的令牌、证书和 PIN 码。数据不会离开本机：本页面只与本地代理通信。",
  language: "语言",
  connecting: "正在连接代理…",
  noTokens: "未找到令牌。插入令牌后会自动显示在这里。",
  unreachable: "本机未运行 tokenagent 服务。请从证书颁发机构网站安装，或运行 \"tokenagent service start\" 启动（Windows：服务 → tokenagent → 启动）。页面会自动重新连接。",
  busy: "tokenagent 服务正在运行，但当前打开的连接过多（可能被其他网站或程序占用）。请关闭使用它的其他标签页，或稍候：本页面会自动重试。",
  reconnected: "已重新连接到代理。",
  serial: "序列号",
  readOnly: "只读",
  legacy: "旧版介质",
  media: "介质",
  pinOk: "PIN 正常",
  pinCountLow: "PIN：曾输入错误的 PIN",
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
  taskUnlock: "您的 PIN 已锁定",
  taskUnlockText: "请输入颁发机构提供的解锁码（SO PIN / PUK）并设置新 PIN。",
  taskBothLocked: "PIN 和解锁码均已锁定。只有颁发机构才能重新初始化此令牌。",
  taskExpiring: "“{cn}”将在 {n} 天后过期（{date}）",
  taskExpired: "“{cn}”已于 {date} 过期",
  taskRenewText: "请续期：将在令牌上生成新密钥和发给颁发机构的证书请求（CSR）。颁发机构返回证书后（即使是几天后），在此处粘贴即可。",
  renewNow: "立即续期",
  taskPending: "“{cn}”的续期已于 {date} 开始",
  taskPendingText: "正在等待颁发机构的证书。如尚未发送，请将下方的证书请求（CSR）发给颁发机构；收到证书后在此处粘贴。",
  taskKey: "没有证书的密钥",
  taskKeyLabel: "没有证书的密钥：{label}",
  taskKeyText: "此密钥的证书请求（CSR）可能正在颁发机构等待处理。收到证书后在此粘贴；如不再需要，可删除该密钥。",
  taskEnrol: "此令牌上还没有证书",
  taskEnrolText: "要获取证书，请在令牌上生成密钥和发给颁发机构的证书请求（CSR），然后在此粘贴颁发机构返回的证书。",
  taskMedia: "此令牌为旧版介质：{desc}",
  taskMediaNoDesc: "此令牌为旧版介质",
  mediaExplain: "您的证书还剩 {remaining}。换用新介质时，其中 {carry} 可转移：新介质上的证书有效期即为此时长。其余 {credit} 将转为颁发机构的抵扣额度。",
  mediaExplainNoCarry: "您的证书还剩 {remaining}，少于可转移到新介质的时长（{rule}），因此不转移：全部 {credit} 转为颁发机构的抵扣额度。",
  mediaExplainNothing: "此令牌上的证书已没有可转移的剩余有效期。",
  mediaNext: "下一步：向颁发机构申请新介质。在新介质到达前继续使用此令牌，之后在新介质上获取证书。",
  mediaNextTarget: "下一步：向颁发机构申请新介质（{target}）。在新介质到达前继续使用此令牌，之后在新介质上获取证书。",
  mediaRemaining: "证书剩余有效期",
  mediaCarry: "转移到新介质",
  mediaCredit: "转为抵扣额度",
  throttledUnlock: "忘记 PIN？颁发机构提供的解锁码仍然可用（“解锁 PIN”）。",
  throttleOver: "现在可以重试。",
  signExpiring: "此证书将在 {n} 天后过期（{date}）。现在的签名有效，但请尽快续期。",
  signExpired: "此证书已于 {date} 过期：用它做的签名不会被接受。请先续期。",
  signNotYet: "此证书尚未生效。",
  moreActions: "其他操作",
  changePin: "修改 PIN",
  unlockPin: "解锁 PIN",
  unlockHint: "忘记 PIN？请输入颁发机构提供的解锁码（SO PIN / PUK）并设置新 PIN。",
  signFile: "签名文件",
  currentPin: "当前 PIN",
  newPin: "新 PIN",
  repeatPin: "再次输入新 PIN",
  unlockCode: "解锁码（SO PIN）",
  pin: "PIN",
  file: "文件",
  certificate: "证书",
  confirmFinal: "我了解这是 PIN 锁定前的最后一次尝试",
  padPin: "此令牌的读卡器带有 PIN 键盘：读卡器提示时，请在读卡器上输入 PIN。本页面不会要求输入 PIN。",
  padChange: "此令牌的读卡器带有 PIN 键盘：读卡器提示时，请在读卡器上先输入当前 PIN，再输入新 PIN。本页面不会要求输入 PIN。",
  padUnlock: "此令牌的读卡器带有 PIN 键盘：读卡器提示时，请在读卡器上先输入解锁码（SO PIN），再输入新 PIN。本页面不会要求输入 PIN。",
  noLoginPin: "此操作不需要 PIN：代理无需登录即可使用此令牌。",
  submitChange: "修改 PIN",
  submitUnlock: "解锁",
  submitSign: "签名并下载 .p7s",
  working: "处理中…",
  pinChanged: "PIN 已修改。",
  pinUnlocked: "PIN 已解锁并重新设置。",
  pinMismatch: "两次输入的新 PIN 不一致。",
  signed: "已签名。签名文件 {name} 已下载。",
  downloadAgain: "再次下载 {name}",
  hashing: "正在计算文件的 SHA-256…",
  chooseFile: "请先选择文件。",
  years: { other: "{n} 年" },
  months: { other: "{n} 个月" },
  days: { other: "{n} 天" },
  renew: "续期证书",
  renewIntro: "将在令牌上生成新密钥和发给颁发机构的证书请求（CSR）。续期会保留在本页面（重新加载或重启后也在），直到您粘贴颁发机构返回的证书。",
  submitPrepare: "生成新密钥和请求",
  commonName: "证书上显示的您的姓名",
  algorithm: "密钥类型",
  submitEnrol: "生成密钥和请求",
  csr: "发给颁发机构的证书请求（CSR）",
  remakeCsr: "重新生成请求",
  submitRemake: "生成请求",
  copy: "复制",
  copied: "已复制。",
  downloadCsr: "下载 {name}",
  pasteIssued: "粘贴颁发的证书",
  issuedCert: "颁发的证书（PEM）",
  issuedFile: "…或证书文件",
  removeOld: "然后删除旧证书及其密钥",
  submitComplete: "保存证书",
  discard: "放弃",
  discardText: "从令牌上删除新密钥。已为它发送的请求将无法再使用。",
  submitDiscard: "删除新密钥",
  discarded: "已放弃：新密钥已从令牌上删除。",
  prepared: "新密钥和请求已生成。请将请求发送给颁发机构；续期显示在此卡片顶部。",
  enrolled: "密钥和请求已生成。请将请求发送给颁发机构。",
  renewed: "新证书已保存到令牌。",
  noIssued: "请先粘贴或选择颁发的证书。",
  none: "无",
  notCertificate: "这不是证书。请粘贴以 -----BEGIN CERTIFICATE----- 开头的文本，或选择颁发机构发来的文件。",
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

// untranslated lists the keys English has and the current language lacks,
// which the page would show in English: the tests want none.
export function untranslated() {
  const missing = [];
  const walk = (e, d, path) => {
    for (const [k, v] of Object.entries(e)) {
      const key = path + k;
      if (typeof v === "string") {
        if (typeof (d && d[k]) !== "string") missing.push(key);
      } else if ("other" in v) {
        if (!(d && d[k] && typeof d[k].other === "string")) missing.push(key); // plural forms
      } else walk(v, d && d[k], key + ".");
    }
  };
  walk(en, dicts[lang], "");
  return missing;
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
