"""Languages: detect a message's language and gloss it into English words, word by word.

Use::

    from assistant.chat.lexicon import gloss
    g = gloss("这款耳机应该定价多少？成本是900卢比")
    g.language, g.text     # "zh", "this headphones should price how much ? cost is 900 rupees"
    gloss("is headphone ka sahi price kya hoga?").text   # "this headphone of right price what will be ?"

Why a table and not a multilingual model: the product's words (category and product nouns)
and the handful of question words merchants use are a small, closed set; a table is exact,
instant, and needs no model weights (none multilingual ship in a package here). Everything
downstream (the intent classifier, the slot rules, the catalog matcher) then works on English
words. Unknown words pass through unchanged: brand names, model numbers and English words
mixed into Hinglish or Spanish stay as written. Chinese has no spaces, so it is segmented by
the longest entry of its table at each position.

Languages: "en" English, "hinglish" (romanised Hindi), "hi" (Hindi in Devanagari), "zh"
(Chinese), "es" (Spanish).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

LANGUAGE_NAMES = {"en": "English", "hinglish": "Hinglish", "hi": "Hindi", "zh": "Chinese", "es": "Spanish"}

# Romanised Hindi. Multi-word entries first (they are matched before single words).
HINGLISH: dict[str, str] = {
    "kitne mein": "at how much", "kitne me": "at how much", "kitne ka": "how much", "kitne ki": "how much",
    "kya hoga": "what will be", "kya rakhu": "what should i set", "kya rakhun": "what should i set",
    "kam karu": "should i drop", "kam karun": "should i drop", "kam kar du": "should i drop",
    "ghata du": "should i drop", "ghatau": "should i drop",
    "break even": "break even", "kaisa chal raha": "how am i doing", "kaisa ja raha": "how am i doing",
    "kaise chal raha": "how am i doing", "kam karna chahiye": "should drop", "kam karna": "drop",
    "kam kar doon": "should i drop",
    "kya": "what", "kitna": "how much", "kitne": "how much", "kitni": "how much", "hoga": "will be",
    "hogi": "will be", "hona": "should be", "chahiye": "should", "sahi": "right", "daam": "price",
    "dam": "price", "keemat": "price", "kimat": "price", "kimmat": "price", "mulya": "price",
    "lagat": "cost", "laagat": "cost", "kharcha": "cost", "kharch": "cost", "khareed": "cost",
    "kharida": "bought", "mera": "my", "meri": "my", "mere": "my", "hamara": "our", "hai": "is",
    "hain": "are", "ka": "of", "ki": "of", "ke": "of", "mein": "in", "me": "in", "se": "from",
    "ko": "to", "kaise": "how", "kyun": "why", "kyu": "why", "kyon": "why", "kyonki": "because",
    "agar": "if", "rakhu": "set", "rakhun": "set", "rakhoon": "set", "rakh": "set", "rakho": "set",
    "becho": "sell", "bechu": "sell", "bechun": "sell", "bechoon": "sell", "bech": "sell",
    "bechta": "sell", "bechti": "sell", "bechna": "sell", "karu": "do", "karun": "do", "kam": "lower",
    "zyada": "higher", "jyada": "higher", "sasta": "cheap", "saste": "cheap", "mehenga": "expensive",
    "mehnga": "expensive", "mahanga": "expensive", "thik": "ok", "theek": "ok", "haan": "yes",
    "nahi": "no", "nahin": "no", "dhanyavad": "thanks", "dhanyawad": "thanks", "shukriya": "thanks",
    "bhai": "", "yaar": "", "ji": "", "batao": "tell me", "bataiye": "tell me", "bata": "tell",
    "wala": "", "wali": "", "wale": "", "liye": "for", "par": "at", "pe": "at", "rupaye": "rupees",
    "rupay": "rupees", "rupye": "rupees", "maal": "stock", "din": "days", "dino": "days",
    "hafte": "weeks", "hafta": "week", "mahine": "month", "mahina": "month", "munafa": "profit",
    "munafe": "profit", "fayda": "profit", "nuksan": "loss", "to": "then", "toh": "then",
    "main": "i", "mai": "i", "mujhe": "i", "karna": "do",
    "humein": "we", "hum": "we", "yeh": "this", "ye": "this", "is": "this", "iska": "its",
    "iski": "its", "iske": "its", "woh": "that", "wo": "that", "aur": "and", "bhi": "also",
    "joota": "shoes", "joote": "shoes", "jute": "shoes", "chappal": "sandals", "ghadi": "watch",
    "kapde": "clothes", "kapda": "cloth", "kursi": "chair", "chadar": "bedsheet", "batti": "lamp",
    "thaila": "bag", "botal": "bottle", "chashma": "sunglasses", "khilona": "toy", "khilone": "toys",
    "kitab": "book", "kitaab": "book", "pankha": "fan", "bartan": "utensils", "tel": "oil",
    "sabun": "soap", "dukaan": "shop", "grahak": "customer", "bikri": "sales", "bikega": "sell",
    "bikenge": "sell", "sabse": "most", "zyaada": "higher", "unit": "units", "pcs": "units",
    "naya": "new", "nayi": "new", "bahut": "too", "paas": "have", "ek": "a", "kar": "do", "raha": "",
    "rahe": "", "rahi": "", "hoon": "am", "hu": "am", "kis": "which", "kaun": "who", "sakte": "can",
    "dusra": "second", "doosra": "second", "pehla": "first",
    "pehle": "first", "teesra": "third", "chalo": "ok", "badhiya": "great",
}

HINDI: dict[str, str] = {
    "क्या होगा": "what will be", "कैसा चल रहा": "how am i doing", "ब्रेक ईवन": "break even",
    "कम करूं": "should i drop", "कम करूँ": "should i drop", "कम कर दूं": "should i drop",
    "घटाऊं": "should i drop", "घटाऊँ": "should i drop",
    "क्या": "what", "कितना": "how much", "कितनी": "how much", "कितने": "how much", "कीमत": "price",
    "दाम": "price", "मूल्य": "price", "क़ीमत": "price", "लागत": "cost", "खर्च": "cost", "मेरा": "my",
    "मेरी": "my", "मेरे": "my", "हमारा": "our", "है": "is", "हैं": "are", "का": "of", "की": "of",
    "के": "of", "में": "in", "से": "from", "को": "to", "पर": "at", "क्यों": "why", "कैसे": "how",
    "अगर": "if", "बेचूं": "sell", "बेचूँ": "sell", "बेचना": "sell", "बेचता": "sell", "बेचती": "sell",
    "बेचें": "sell", "बेचो": "sell", "रखूं": "set", "रखूँ": "set", "रखें": "set", "होगा": "will be",
    "होगी": "will be", "चाहिए": "should", "सही": "right", "उचित": "right", "मैं": "i", "हम": "we",
    "यह": "this", "ये": "this", "इस": "this", "इसका": "its", "इसकी": "its", "वह": "that", "और": "and",
    "तो": "then", "लिए": "for", "बताओ": "tell me", "बताइए": "tell me", "बताएं": "tell me",
    "हेडफोन": "headphones", "हेडफ़ोन": "headphones", "फोन": "phone", "फ़ोन": "phone",
    "मोबाइल": "mobile phone", "घड़ी": "watch", "घडी": "watch", "जूते": "shoes", "जूता": "shoes",
    "किताब": "book", "खिलौना": "toy", "खिलौने": "toys", "कुर्सी": "chair", "बोतल": "bottle",
    "बैग": "bag", "लैंप": "lamp", "दीया": "diya lamp", "दिया": "diya lamp", "साड़ी": "saree",
    "कुर्ता": "kurta", "टीवी": "tv", "पंखा": "fan", "चादर": "bedsheet", "कपड़े": "clothes",
    "चश्मा": "sunglasses", "प्रतिस्पर्धी": "competitors", "प्रतियोगी": "competitors",
    "मुनाफा": "profit", "मुनाफ़ा": "profit", "मार्जिन": "margin", "रुपये": "rupees", "रुपए": "rupees",
    "रुपया": "rupees", "धन्यवाद": "thanks", "शुक्रिया": "thanks", "नमस्ते": "hello", "ठीक": "ok",
    "हाँ": "yes", "हां": "yes", "नहीं": "no", "कम": "lower", "ज़्यादा": "higher", "ज्यादा": "higher",
    "दिन": "days", "दिनों": "days", "यूनिट": "units", "स्टॉक": "stock", "सुझाव": "suggest",
    "समान": "similar", "मिलते": "similar", "जुलते": "", "उत्पाद": "products", "प्रोडक्ट": "product",
    "आप": "you", "बता": "tell", "सकते": "can", "बेच": "sell", "रहे": "", "किस": "which",
    "सस्ता": "cheap", "महंगा": "expensive", "नया": "new", "दूसरा": "second", "पहला": "first",
    "तीसरा": "third", "सबसे": "most", "बिकेगा": "sell", "बिक्री": "sales", "बेहतर": "better",
}

CHINESE: dict[str, str] = {
    "这款": "this", "这个": "this", "那个": "that", "耳机": "headphones", "蓝牙耳机": "bluetooth headphones",
    "手机壳": "phone case", "手机": "phone", "手表": "watch", "鞋子": "shoes", "鞋": "shoes",
    "运动鞋": "sports shoes", "书": "book", "玩具": "toy", "椅子": "chair", "水瓶": "bottle",
    "瓶子": "bottle", "水杯": "bottle", "背包": "backpack", "包": "bag", "台灯": "desk lamp", "灯": "lamp",
    "电视": "tv", "电视机": "tv", "风扇": "fan", "床单": "bedsheet", "衣服": "clothes", "太阳镜": "sunglasses",
    "充电线": "charging cable", "数据线": "usb cable", "充电器": "charger", "音箱": "speaker",
    "键盘": "keyboard", "鼠标": "mouse", "相机": "camera", "手提包": "handbag", "钱包": "wallet",
    "应该": "should", "定价": "price", "价格": "price", "价钱": "price", "售价": "selling price",
    "多少钱": "how much", "多少": "how much", "成本": "cost", "进价": "cost", "是": "is", "卢比": "rupees",
    "美元": "dollars", "欧元": "euros", "英镑": "pounds", "元": "yuan", "块": "", "如果": "if",
    "卖": "sell", "我": "i", "我的": "my", "我们": "we", "为什么": "why", "竞争对手": "competitors",
    "对手": "competitors", "类似": "similar", "相似": "similar", "产品": "products", "商品": "product",
    "利润率": "margin", "毛利率": "margin", "加价率": "markup", "利润": "profit", "盈亏平衡": "break even",
    "保本": "break even", "降价": "drop the price", "涨价": "raise the price", "谢谢": "thanks",
    "你好": "hello", "好的": "ok", "好": "ok", "太低": "too low", "太高": "too high", "太贵": "too expensive",
    "重置": "reset", "重新开始": "start over", "帮助": "help", "天": "days", "件": "units", "个": "units",
    "库存": "stock", "清仓": "clear", "卖完": "sell out", "最多": "most", "销量": "sales",
    "怎么样": "how", "现在": "currently", "目前": "currently", "的": "", "吗": "?", "呢": "?", "在": "at",
    "以": "at", "定": "set", "设置": "set", "最低": "minimum", "最高": "maximum", "要": "want",
    "可以": "can", "怎么": "how", "解释": "explain", "原因": "reason", "第一个": "first",
    "第二个": "second", "第三个": "third", "新的": "new", "新": "new", "和": "and", "了": "",
    "该": "should", "不": "not", "吧": "", "呀": "", "啊": "", "请": "please", "给": "give",
    "建议": "suggest", "笑话": "joke", "天气": "weather", "讲": "tell", "个笑话": "a joke",
    "的话": "", "话": "", "这么": "so", "什么": "what", "帮我": "help me", "帮": "help", "写": "write",
    "想": "want to", "一个": "a", "一": "a", "蓝牙": "bluetooth", "一首诗": "a poem", "诗": "poem", "孟买": "mumbai",
    "北京": "beijing", "给我看": "show me", "看": "see",
    "卖得": "sells", "得": "", "今天": "today", "这": "this", "那": "that", "多": "much", "少": "few",
    "价": "price", "钱": "money", "最": "most", "低": "low", "高": "high", "贵": "expensive", "便宜": "cheap",
}

SPANISH: dict[str, str] = {
    "por qué": "why", "por que": "why", "punto de equilibrio": "break even", "qué pasa si": "what if",
    "que pasa si": "what if", "margen mínimo": "minimum margin", "margen minimo": "minimum margin",
    "demasiado bajo": "too low", "demasiado alto": "too high", "muy bajo": "too low", "muy alto": "too high",
    "cómo voy": "how am i doing", "como voy": "how am i doing", "debo bajar": "should i drop",
    "cuánto": "how much", "cuanto": "how much", "cuánta": "how much", "debería": "should",
    "deberia": "should", "debo": "should", "cobrar": "charge", "cobro": "charge", "precio": "price",
    "costo": "cost", "coste": "cost", "cuesta": "costs", "mi": "my", "mis": "my", "es": "is",
    "por": "for", "para": "for", "qué": "what", "que": "what", "si": "if", "vendo": "sell",
    "vender": "sell", "vendiendo": "selling", "auriculares": "headphones", "audífonos": "headphones",
    "audifonos": "headphones", "cascos": "headphones", "teléfono": "phone", "telefono": "phone",
    "móvil": "mobile phone", "movil": "mobile phone", "celular": "phone", "reloj": "watch",
    "zapatos": "shoes", "zapatillas": "sneakers", "libro": "book", "juguete": "toy", "juguetes": "toys",
    "silla": "chair", "botella": "bottle", "bolso": "bag", "mochila": "backpack", "lámpara": "lamp",
    "lampara": "lamp", "televisor": "tv", "ventilador": "fan", "sábana": "bedsheet", "ropa": "clothes",
    "gafas de sol": "sunglasses", "cargador": "charger", "cable": "cable", "altavoz": "speaker",
    "teclado": "keyboard", "ratón": "mouse", "cámara": "camera", "camara": "camera", "cartera": "wallet",
    "competidores": "competitors", "competencia": "competitors", "similares": "similar",
    "parecidos": "similar", "productos": "products", "producto": "product", "margen": "margin",
    "sobreprecio": "markup", "recargo": "markup", "ganancia": "profit", "beneficio": "profit",
    "gracias": "thanks", "hola": "hello", "vale": "ok", "reiniciar": "reset", "ayuda": "help",
    "días": "days", "dias": "days", "semanas": "weeks", "mes": "month", "unidades": "units",
    "inventario": "stock", "existencias": "stock", "liquidar": "clear", "bajar": "drop",
    "subir": "raise", "rupias": "rupees", "dólares": "dollars", "dolares": "dollars", "el": "the",
    "la": "the", "los": "the", "las": "the", "un": "a", "una": "a", "unos": "some", "unas": "some",
    "¿": "", "¡": "", "de": "of", "del": "of the",
    "al": "at the", "en": "in", "con": "with", "y": "and", "a": "at", "lo": "it", "le": "it",
    "este": "this", "esta": "this", "ese": "that", "esa": "that", "actual": "current",
    "actualmente": "currently", "mínimo": "minimum", "minimo": "minimum", "máximo": "maximum",
    "maximo": "maximum", "nuevo": "new", "nueva": "new", "segundo": "second", "primero": "first",
    "tercero": "third", "más": "most", "mas": "most", "barato": "cheap", "caro": "expensive",
    "explica": "explain", "sugiere": "suggest", "recomienda": "recommend", "tengo": "i have",
    "quiero": "i want", "bien": "well", "chiste": "joke", "clima": "weather", "cuéntame": "tell me",
    "dime": "tell me", "estoy": "i am", "inalámbricos": "wireless", "inalámbrico": "wireless",
    "inalambricos": "wireless", "cuero": "leather", "escritorio": "desk", "madera": "wooden",
    "algodón": "cotton", "algodon": "cotton", "cobra": "charges", "gano": "earn", "necesito": "i need",
    "vende": "sells", "pongo": "put", "cuál": "which", "cual": "which", "me": "me", "rojo": "red",
    "voy": "i am doing", "ok": "ok", "perfecto": "perfect",
    "hecho": "done", "acepto": "accept", "pon": "set", "fija": "set", "establece": "set",
}

# Words that mark romanised Hindi or Spanish (English shares few of them).
_HINGLISH_MARKERS = frozenset(
    "kya kitna kitne kitni hoga hogi chahiye sahi daam keemat kimat lagat kharcha mera meri mere hai hain "
    "ka ki ke mein kaise kyun kyu agar rakhu rakhun becho bechu bechun bhai yaar batao liye rupaye "
    "munafa toh nahi nahin haan theek thik shukriya dhanyavad aur bhi kam zyada jyada sasta mehenga "
    "chalo badhiya wala wali iska iski sabse kis pe bikega rahe raha hoon paas ek bahut".split())
_SPANISH_MARKERS = frozenset(
    "cuánto cuanto debería deberia cobrar precio costo coste qué por para vendo vender auriculares "
    "audífonos es mi mis el la los las una del competidores margen gracias hola días dias unidades "
    "teléfono reloj zapatos si lo vendiendo cuesta tengo quiero debo bajar subir está esta estoy "
    "dime cuéntame chiste clima".split())
_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
# letters with their combining marks (Devanagari vowel signs are marks, not letters)
_WORD = re.compile(r"(?:[^\W_]|[\u0900-\u097f\u0300-\u036f])+(?:['’][^\W_]+)?|[^\w\s]", re.UNICODE)
_DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
_FULLWIDTH = str.maketrans("０１２３４５６７８９，。？！：；％＄￥", "0123456789,.?!:;%$¥")


@dataclass(frozen=True)
class Gloss:
    """A message in English words: `text`; `language` of the original; `original` as typed."""

    text: str
    language: str
    original: str

    @property
    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.language, self.language)


def detect_language(text: str) -> str:
    """"zh", "hi", "hinglish", "es" or "en" (script first, then marker words)."""
    if _CJK.search(text):
        return "zh"
    if _DEVANAGARI.search(text):
        return "hi"
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", text)]
    if not words:
        return "en"
    hing = sum(w in _HINGLISH_MARKERS for w in words)
    spa = sum(w in _SPANISH_MARKERS for w in words) + 2 * len(re.findall(r"[¿¡ñáéíóú]", text.lower()))
    # "is", "me", "to", "ki" are English too: two marker words (or one in a short message) needed
    need = 1 if len(words) <= 3 else 2
    if hing >= need and hing > spa:
        return "hinglish"
    if spa >= need and spa > hing:
        return "es"
    return "en"


def _phrase_table(table: dict[str, str]) -> list[tuple[re.Pattern[str], str]]:
    phrases = sorted((k for k in table if " " in k), key=len, reverse=True)
    return [(re.compile(rf"(?<![^\W_]){re.escape(p)}(?![^\W_])", re.I), table[p]) for p in phrases]


_TABLES = {"hinglish": HINGLISH, "hi": HINDI, "es": SPANISH}
_PHRASES = {lang: _phrase_table(t) for lang, t in _TABLES.items()}
_ZH_MAX = max(len(k) for k in CHINESE)


def _gloss_words(text: str, table: dict[str, str], phrases: list[tuple[re.Pattern[str], str]]) -> str:
    for pat, repl in phrases:
        text = pat.sub(f" {repl} ", text)
    out = []
    for tok in _WORD.findall(text):
        low = tok.lower()
        out.append(table[low] if low in table else tok)
    return " ".join(w for w in out if w)


def _gloss_chinese(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if _CJK.match(ch):
            for n in range(min(_ZH_MAX, len(text) - i), 0, -1):
                seg = text[i:i + n]
                if seg in CHINESE:
                    if CHINESE[seg]:
                        out.append(f" {CHINESE[seg]} ")
                    i += n
                    break
            else:  # an unknown character: kept (the matcher may still know it), spaced
                out.append(f" {ch} ")
                i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def normalize(text: str) -> str:
    """NFC, full-width and Devanagari digits to ASCII, Chinese punctuation to ASCII."""
    t = unicodedata.normalize("NFKC", text or "")
    return t.translate(_DEVANAGARI_DIGITS).translate(_FULLWIDTH)


def gloss(text: str) -> Gloss:
    """The message in English words (unknown words kept), with its detected language."""
    original = text or ""
    t = normalize(original)
    lang = detect_language(t)
    if lang == "en":
        return Gloss(t, "en", original)
    if lang == "zh":
        t = _gloss_chinese(t)
        lang_table = "hi" if _DEVANAGARI.search(t) else None
        if lang_table:
            t = _gloss_words(t, HINDI, _PHRASES["hi"])
    else:
        if lang == "es":  # "1.200" is twelve hundred in Spanish
            t = re.sub(r"(?<![\d.,])(\d{1,3})((?:\.\d{3})+)(?![\d.,])",
                       lambda m: m.group(1) + m.group(2).replace(".", ""), t)
        if lang == "hi":  # "900रुपये": a number glued to a Devanagari word
            t = re.sub(r"(?<=\d)(?=[\u0900-\u097f])|(?<=[\u0900-\u097f])(?=\d)", " ", t)
        t = _gloss_words(t, _TABLES[lang], _PHRASES[lang])
    t = re.sub(r"\s+([?.,!%])", r"\1", t)
    return Gloss(re.sub(r"\s+", " ", t).strip(), lang, original)
