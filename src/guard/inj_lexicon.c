/* The prompt-injection detector's lexicon and rules (see inj_int.h for how they are used).
 *
 * Words are written as people write them; the builder folds them like the scanner does
 * (lower case, no accents, ß -> ss, apostrophes and hyphens split words: "d'ora in poi" is
 * the phrase d / ora / in / poi). A word may appear in several lines: its classes add up.
 * Phrases add their classes to their LAST word only.
 *
 * What is deliberately NOT here, because shop customers say it every day: "orders",
 * "commandes", "órdenes", "ordini", "bestellingen" as instructions ("ignore all previous
 * orders" is a customer filtering an order list); "model" alone (product models);
 * "recommend" as telling the user (reviews recommend); "di" (Italian "of"). */
#include "guard/inj_int.h"

#define L(cls, words)                                                                              \
    {                                                                                              \
        (cls), (words)                                                                             \
    }

const struct inj_lex inj_lexicon[] = {
    /* --- override ------------------------------------------------------------------- */
    L(CB(C_IGN), "ignore|ignoring|ignored|disregard|disregarding|bypass|bypassing|neglect|overlook|"
                 "abandon|discard|drop|dismiss|scrap|erase|unlearn|pay no attention to|"
                 "set aside|throw out|circumvent"),
    L(CB(C_IGN), "ignoriere|ignorier|ignorieren|ignoriert|ignorierst|missachte|missachten|"
                 "missachtet|übergehe|übergeh|übergehen|verwirf|verwerfe|verwerfen|umgehe|"
                 "umgehen|außer acht|setz dich über|setze dich über|setzt euch über|hinwegsetzen"),
    L(CB(C_IGN), "ignorez|ignorer|ignores|néglige|négligez|négliger|écarte|écartez|outrepasse|"
                 "outrepassez|contourne|contournez|tiens pas compte|"
                 "tenez pas compte|passe outre|passez outre|fais abstraction|faites abstraction"),
    L(CB(C_IGN), "ignora|ignorad|ignoren|ignorar|descarta|descarte|descartad|descartar|omite|"
                 "omita|omitir|caso omiso|hagas caso|pasa por alto|pase por alto|desestima|"
                 "desestime"),
    L(CB(C_IGN), "ignori|ignorate|ignorare|trascura|trascurate|trascurare|tralascia|"
                 "tralasciate|scarta|scartate|scartare|non considerare|non tenere conto|"
                 "lascia perdere|aggira|aggirate"),
    L(CB(C_IGN), "negeer|negeren|negeert|omzeil|omzeilen|geen rekening|laat varen|"
                 "sla over|trek je niets aan van|trek je niks aan van|lap aan je laars"),
    L(CB(C_IGN) | CB(C_FORGET),
      "forget|forgetting|vergiss|vergiß|vergessen|vergesst|vergesse|oublie|oubliez|oublier|"
      "oublies|olvida|olvide|olvidad|olviden|olvidar|olvídate|dimentica|dimentichi|"
      "dimenticate|dimenticare|scordati|vergeet|vergeten"),
    L(CB(C_PRIOR), "previous|previously|prior|earlier|preceding|former|foregoing|original|"
                   "initial|past|old|aforementioned|before|given"),
    L(CB(C_PRIOR), "vorherigen|vorherige|vorheriger|vorherigem|vorigen|vorige|bisherigen|"
                   "bisherige|früheren|frühere|ursprünglichen|ursprüngliche|alten|alte|"
                   "vorangegangenen|vorangegangene|vorausgegangenen|vorhergehenden|"
                   "vorhergehende|zuvor|vorher|gegebenen"),
    L(CB(C_PRIOR), "précédentes|précédents|précédente|précédent|antérieures|antérieurs|"
                   "antérieure|anciennes|anciens|initiales|initiaux|originales|originelles|"
                   "originaux|auparavant|préalables"),
    L(CB(C_PRIOR), "anteriores|anterior|previas|previos|previa|previo|originales|iniciales|"
                   "antiguas|antiguos|pasadas|dadas|antes|precedentes"),
    L(CB(C_PRIOR), "precedenti|precedente|originali|originarie|iniziali|vecchie|vecchi|"
                   "passate|prima|anteriori"),
    L(CB(C_PRIOR), "vorige|voorgaande|eerdere|eerder|oude|oorspronkelijke|originele|"
                   "initiële|hiervoor|daarvoor|gegeven"),
    L(CB(C_ABOVE) | CB(C_PRIOR),
      "above|so far|until now|up to now|oben|obigen|obige|obenstehenden|obenstehende|bisher|"
      "ci-dessus|précède|précèdent|jusqu'ici|jusqu'à présent|arriba|hasta ahora|sopra|"
      "soprastanti|finora|fino ad ora|hierboven|bovenstaande|tot nu toe|tot nu|qui sopra"),
    L(CB(C_ABOVELINE) | CB(C_ABOVE),
      "above this line|above this message|before this line|über dieser zeile|"
      "oberhalb dieser zeile|vor dieser zeile|über dieser nachricht|au-dessus de cette ligne|"
      "au-dessus de ce message|avant cette ligne|por encima de esta línea|"
      "por encima de este mensaje|antes de esta línea|sopra questa riga|sopra questa linea|"
      "sopra questo messaggio|prima di questa riga|boven deze regel|boven deze lijn|"
      "boven dit bericht|voor deze regel"),
    L(CB(C_ALL), "all|every|any|each|alle|allen|sämtliche|jegliche|jede|jeden|toutes|tous|"
                 "toute|chaque|todas|todos|toda|cualquier|cada|tutte|tutti|ogni|qualsiasi|"
                 "qualunque|elke|iedere"),
    L(CB(C_YOUR), "your|yours|thy|deine|deinen|deiner|deinem|dein|ihre|ihren|ihrer|ihrem|"
                  "eure|euren|tes|ton|ta|vos|votre|tus|tu|su|sus|vuestras|vuestros|vuestra|"
                  "tue|tuoi|tua|tuo|sue|vostre|vostri|vostra|je|jouw|uw|ur|yr"),
    L(CB(C_YOU), "you|du|dich|dir|tu|toi|te|vous|tú|usted|ustedes|eres|ti|voi|sei|jij|jou|"
                 "je|u|bist|bent|êtes"),
    L(CB(C_INSTR), "instructions|instruction|directives|directive|guidelines|guideline|"
                   "prompt|prompts|programming|guidance|briefing|configuration"),
    L(CB(C_INSTR), "anweisungen|anweisung|instruktionen|instruktion|vorgaben|vorgabe|"
                   "richtlinien|richtlinie|direktiven|anordnungen|programmierung|konfiguration"),
    L(CB(C_INSTR), "consignes|consigne|lignes directrices|programmation|indications|configuration"),
    L(CB(C_INSTR), "instrucciones|instrucción|indicaciones|directrices|directivas|pautas|"
                   "programación|consignas|configuración"),
    L(CB(C_INSTR), "istruzioni|istruzione|direttive|direttiva|linee guida|programmazione|"
                   "consegne|indicazioni|configurazione"),
    L(CB(C_INSTR), "instructies|instructie|richtlijnen|aanwijzingen|programmering|configuratie"),
    L(CB(C_INSTRW), "rules|rule|policies|restrictions|constraints|commands|limitations|"
                    "regeln|regel|beschränkungen|einschränkungen|befehle|règles|règle|"
                    "contraintes|reglas|regla|restricciones|normas|comandos|regole|regola|"
                    "restrizioni|vincoli|comandi|norme|regels|beperkingen|opdrachten|"
                    "bevelen|restricties|policy|politiques|politique|políticas|política|politiche|"
                    "politica|beleid|richtlijn"),
    L(CB(C_SYSPROMPT),
      "system prompt|system prompts|system message|system instructions|system instruction|"
      "systemprompt|systemprompts|preprompt|pre-prompt|metaprompt|meta prompt|"
      "initial prompt|initial instructions|original instructions|original prompt|"
      "hidden prompt|hidden instructions|secret instructions|secret prompt|"
      "developer instructions|developer message|developer prompt|custom instructions|"
      "base prompt|starting prompt|hidden rules|secret rules|hidden guidelines|secret "
      "guidelines|internal rules|internal instructions|confidential instructions"),
    L(CB(C_SYSPROMPT),
      "systemnachricht|systemanweisungen|systemanweisung|systemvorgaben|system-anweisungen|"
      "versteckten anweisungen|versteckte anweisungen|geheimen anweisungen|"
      "geheime anweisungen|ursprünglichen anweisungen|ursprüngliche anweisungen|"
      "anfänglichen anweisungen|ursprünglichen prompt|ursprünglicher prompt|"
      "initialen prompt|versteckten prompt|geheimen regeln|geheime regeln|versteckten "
      "regeln|internen anweisungen|internen regeln"),
    L(CB(C_SYSPROMPT),
      "prompt système|prompt systeme|instructions système|consignes système|invite système|"
      "message système|instructions du système|consignes initiales|instructions initiales|"
      "instructions cachées|instructions secrètes|instructions d'origine|"
      "instructions originales|prompt initial|prompt caché|consignes cachées|règles "
      "secrètes|règles cachées|consignes secrètes|instructions internes|règles internes"),
    L(CB(C_SYSPROMPT),
      "prompt del sistema|prompt de sistema|mensaje del sistema|mensaje de sistema|"
      "instrucciones del sistema|instrucciones de sistema|instrucciones ocultas|"
      "instrucciones iniciales|instrucciones originales|instrucciones secretas|"
      "prompt inicial|prompt oculto|reglas secretas|reglas ocultas|instrucciones internas|reglas "
      "internas"),
    L(CB(C_SYSPROMPT),
      "prompt di sistema|messaggio di sistema|istruzioni di sistema|istruzioni del sistema|"
      "istruzioni nascoste|istruzioni iniziali|istruzioni originali|istruzioni segrete|"
      "prompt iniziale|prompt nascosto|regole segrete|regole nascoste|istruzioni interne|regole "
      "interne"),
    L(CB(C_SYSPROMPT),
      "systeemprompt|systeem prompt|systeembericht|systeeminstructies|systeem instructies|"
      "verborgen instructies|geheime instructies|oorspronkelijke instructies|"
      "originele instructies|initiële instructies|oorspronkelijke prompt|verborgen prompt|geheime "
      "regels|verborgen regels|interne instructies|interne regels"),
    L(CB(C_SYS) | CB(C_ROLE), "system|systeme|système|sistema|systeem|systems"),
    L(CB(C_VOID), "no longer apply|no longer applies|no longer valid|are outdated|are obsolete|"
                  "are void|are cancelled|are canceled|are revoked|are invalid|"
                  "gelten nicht mehr|sind ungültig|sind aufgehoben|sind veraltet|sind hinfällig|"
                  "gelten ab sofort nicht|ne sont plus valables|ne s'appliquent plus|"
                  "ne sont plus valides|sont annulées|sont obsolètes|ya no son válidas|"
                  "ya no aplican|ya no se aplican|ya no valen|quedan anuladas|son obsoletas|"
                  "non valgono più|non sono più valide|non si applicano più|sono annullate|"
                  "sono obsolete|gelden niet meer|zijn niet meer geldig|zijn vervallen|"
                  "zijn ongeldig|zijn verouderd|zijn ingetrokken"),
    L(CB(C_EVERYTHING), "everything|anything|alles|tout|tout ce|todo|todo lo|tutto|"
                        "tutto quello|tutto ciò|all of that|all of the above|cualquier "
                        "cosa|qualsiasi cosa|alles wat|everything above"),
    L(CB(C_NEW), "new|updated|revised|real|actual|true|correct|neue|neuen|neuer|"
                 "geänderten|aktualisierten|echten|wahren|nouvelles|nouvelle|nouveaux|"
                 "nouveau|véritables|vraies|nuevas|nuevos|nueva|reales|actualizadas|"
                 "verdaderas|nuove|nuovi|nuova|vere|aggiornate|nieuwe|nieuw|echte|"
                 "bijgewerkte"),
    L(CB(C_STOP), "stop|quit|cease|halt|no longer|hör auf|höre auf|aufhören|arrête|arrêtez|"
                  "cesse|cessez|deja de|dejes de|para de|smetti|smettila|smettete|"
                  "niet langer|niet meer|hou op|houd op|stoppen"),
    L(CB(C_FOLLOW),
      "follow|following|obey|comply|adhere|respect|execute|perform|"
      "carry out|heed|abide|befolge|befolgen|befolgst|folge|folgen|beachte|"
      "beachten|gehorche|halte dich an|führe aus|ausführen|suis|suivez|suivre|"
      "respecte|respectez|obéis|obéissez|exécute|exécutez|applique|appliquez|"
      "sigue|sigas|seguir|sigan|obedece|obedecer|respeta|cumple|cumplir|"
      "ejecuta|ejecutar|aplica|segui|seguire|seguite|obbedisci|rispetta|"
      "rispettare|esegui|eseguire|applica|volg|volgen|gehoorzaam|"
      "gehoorzamen|voer "
      "uit|uitvoeren|síguelo|síguela|síguelas|síguelos|ejecútalo|eseguilo|eseguila|seguilo|befolge "
      "es|führe es aus|suis-le|exécute-le|applique-le|voer het uit|volg het|volg ze"),
    L(CB(C_NEG), "not|don't|dont|never|nicht|nie|niemals|kein|keine|keinen|ne|pas|n'|"
                 "jamais|no|nunca|non|mai|niet|nooit|geen"),
    L(CB(C_DISABLE), "disable|deactivate|turn off|switch off|remove|override|overriding|"
                     "overwrite|replace|reset|clear|delete|deaktiviere|deaktivieren|"
                     "schalte ab|schalte aus|entferne|lösche|löschen|überschreibe|ersetze|"
                     "désactive|désactivez|désactiver|efface|effacez|remplace|remplacez|"
                     "desactiva|desactive|desactivar|quita|elimina|borra|borre|reemplaza|"
                     "sustituye|disattiva|disattivare|rimuovi|cancella|sostituisci|"
                     "schakel uit|uitschakelen|deactiveer|verwijder|wis|vervang"),
    L(CB(C_SAFETY), "safety|filters|filter|guardrails|safeguards|censorship|moderation|"
                    "ethics|ethical|content policy|alignment|sicherheitsfilter|"
                    "sicherheitsrichtlinien|zensur|ethik|sécurité|filtres|censure|"
                    "modération|éthique|seguridad|filtros|censura|moderación|ética|"
                    "sicurezza|filtri|moderazione|etica|veiligheid|censuur|moderatie|"
                    "ethiek|veiligheidsfilters"),
    L(CB(C_USER), "user|users|customer|customers|shopper|buyer|visitor|reader|human|humans|"
                  "client|nutzer|nutzerin|benutzer|benutzerin|kunde|kunden|kundin|käufer|"
                  "besucher|leser|utilisateur|utilisateurs|utilisatrice|clients|acheteur|"
                  "visiteur|lecteur|usuario|usuarios|usuaria|cliente|clientes|comprador|"
                  "visitante|lector|utente|utenti|clienti|acquirente|visitatore|lettore|"
                  "gebruiker|gebruikers|klant|klanten|koper|bezoeker|lezer"),
    L(CB(C_REQUEST), "request|question|query|task|anfrage|frage|aufgabe|demande|requête|"
                     "tâche|solicitud|pregunta|consulta|petición|tarea|richiesta|domanda|"
                     "compito|vraag|verzoek|opdracht"),
    /* --- role play ------------------------------------------------------------------ */
    L(CB(C_PERSONA),
      "you are now|you're now|you are no longer|you will now act|you will now be|"
      "you will now pretend|you are going to act|you are going to pretend|you will act as|"
      "you will pretend|your new role|your new persona|your new identity|new persona|"
      "du bist jetzt|du bist nun|du bist ab jetzt|ab jetzt bist du|ab sofort bist du|"
      "von nun an bist du|sie sind jetzt|du wirst jetzt|deine neue rolle|"
      "tu es maintenant|tu es désormais|tu es dorénavant|vous êtes maintenant|"
      "vous êtes désormais|tu seras désormais|à partir de maintenant tu es|"
      "ton nouveau rôle|ta nouvelle identité|ahora eres|ahora serás|ahora vas a ser|"
      "a partir de ahora eres|desde ahora eres|a partir de ahora serás|tu nuevo rol|"
      "tu nuevo papel|ora sei|adesso sei|d'ora in poi sei|da ora in poi sei|ora tu sei|"
      "d'ora in poi tu sei|il tuo nuovo ruolo|je bent nu|jij bent nu|vanaf nu ben je|"
      "je bent vanaf nu|u bent nu|je nieuwe rol|tu n'es plus|vous n'êtes plus|ya no eres|du bist "
      "nicht mehr|du bist kein|non sei più|je bent niet langer|je bent niet meer"),
    L(CB(C_PERSONA) | CB(C_VOID),
      "you are no longer|you're no longer|tu n'es plus|vous n'êtes plus|ya no eres|"
      "ya no es|du bist nicht mehr|du bist kein|sie sind nicht mehr|non sei più|"
      "je bent niet langer|je bent niet meer|je bent geen"),
    L(CB(C_FROMNOW),
      "from now on|from this moment on|from this point on|from here on|henceforth|"
      "von nun an|ab jetzt|ab sofort|ab nun|à partir de maintenant|désormais|dorénavant|"
      "dès maintenant|de ahora en adelante|a partir de ahora|desde ahora|"
      "desde este momento|d'ora in poi|da ora in poi|da adesso in poi|d'ora in avanti|"
      "da questo momento|vanaf nu|voortaan|vanaf dit moment|van nu af aan"),
    L(CB(C_PRETEND),
      "pretend|pretending|roleplay|role-play|role play|act as|act like|behave as|"
      "behave like|play the role|take on the role|assume the role|imagine you are|"
      "imagine that you are|simulate|impersonate|respond as|answer as|speak as|"
      "tu so als|tue so als|verhalte dich wie|verhalte dich als|spiele die rolle|"
      "spiel die rolle|übernimm die rolle|stell dir vor du bist|stell dir vor dass du|"
      "gib dich als|simuliere|agiere als|antworte als|fais semblant|faites semblant|"
      "joue le rôle|jouez le rôle|agis comme|agissez comme|comporte-toi comme|"
      "comportez-vous comme|imagine que tu es|imaginez que vous êtes|incarne|incarnez|"
      "simule|réponds en tant que|prétends être|finge|fingir|finge que|finge ser|"
      "actúa como|actúe como|haz como si|interpreta el papel|juega el papel|"
      "imagina que eres|simula|hazte pasar|compórtate como|responde como|fingi|fingere|"
      "fai finta|fate finta|comportati come|agisci come|interpreta il ruolo|"
      "recita la parte|immagina di essere|impersona|rispondi come|doe alsof|"
      "doe je voor als|speel de rol|gedraag je als|stel je voor dat je|neem de rol aan|"
      "simuleer|antwoord als|let's play a game|lass uns ein spiel spielen|lass uns spielen|jouons "
      "à un jeu|juguemos a un juego|juguemos un juego|facciamo un gioco|laten we een spel "
      "spelen|laten we een spelletje spelen|stell dir vor|imagina di essere|stel je voor"),
    L(CB(C_JB),
      "do anything now|dan mode|dan modus|jailbreak mode|jailbroken mode|stay in character|"
      "stay in role|evil confidant|always intelligent and machiavellian|opposite mode|"
      "god mode|sudo mode|unrestricted mode|uncensored mode|no filter mode|anti-dan|"
      "strive to avoid norms|freed from the typical confines|"
      "broken free of the typical confines|do not have to abide by|"
      "does not have to abide by|don't have to abide by|doesn't have to follow|"
      "does not need to follow|have been freed|developer mode enabled|"
      "developer mode output|with developer mode|jailbroken version|evil mode|chaos mode|"
      "bleib in der rolle|bleibe in der rolle|reste dans le personnage|reste dans ton rôle|"
      "mantente en el personaje|sigue en el personaje|resta nel personaggio|"
      "rimani nel personaggio|blijf in je rol|blijf in de rol|modo dios|gottmodus|"
      "mode dieu|modalità dio|godmodus|sin ninguna restricción ética"),
    L(CB(C_JBWORD), "jailbreak|jailbroken|jailbreaking|jailbreaks|gejailbreakt|gejailbreakte|"
                    "jailbreakée|jailbreaké|jailbreakeada|jailbreakeado|jailbreakata|jailbreakato"),
    L(CB(C_DAN), "dan"),
    L(CB(C_DEVMODE),
      "developer mode|dev mode|developermode|entwicklermodus|entwickler-modus|"
      "mode développeur|modo desarrollador|modo de desarrollador|modo developer|"
      "modalità sviluppatore|modalità developer|ontwikkelaarsmodus|ontwikkelaar modus|"
      "developer modus"),
    L(CB(C_ENABLED),
      "enabled|activated|unlocked|aktiviert|eingeschaltet|freigeschaltet|activé|"
      "activée|déverrouillé|activado|habilitado|desbloqueado|attivata|attivato|"
      "abilitata|abilitato|sbloccata|ingeschakeld|geactiveerd|ontgrendeld|enable|activate|turn "
      "on|switch on|aktiviere|aktivier|schalte "
      "ein|active|activez|activa|activad|habilita|attiva|abilita|activeer|schakel in|zet aan"),
    L(CB(C_NOWORD), "no|without|free from|free of|not bound|ohne|keine|keinen|kein|sans|"
                    "aucune|aucun|sin|ningún|ninguna|ni|senza|nessuna|nessun|zonder|geen|"
                    "nicht gebunden|libre de|libero da|vrij van"),
    L(CB(C_LIMITS), "restrictions|restriction|limits|limitations|limit|rules|filters|filter|"
                    "guidelines|boundaries|censorship|ethics|morals|morality|constraints|"
                    "safeguards|guardrails|content policy|policies|einschränkungen|"
                    "beschränkungen|grenzen|regeln|zensur|ethik|moral|richtlinien|"
                    "limites|limitations|règles|filtres|censure|éthique|morale|contraintes|"
                    "restricciones|límites|limitaciones|reglas|filtros|censura|ética|"
                    "restrizioni|limiti|limitazioni|regole|filtri|etica|morale|vincoli|"
                    "beperkingen|regels|censuur|ethiek|moraal|restricties"),
    L(CB(C_UNRESTR), "unrestricted|unfiltered|uncensored|amoral|unbound|unshackled|"
                     "uneingeschränkt|uneingeschränkte|ungefiltert|ungefilterte|unzensiert|"
                     "unzensierte|non censuré|non filtré|sans filtre|sin censura|sin filtro|"
                     "senza censura|senza filtri|ongecensureerd|ongefilterd"),
    L(CB(C_EVIL),
      "evil|malicious|unethical|immoral|villainous|böse|bösartig|skrupellos|"
      "unmoralisch|maléfique|malveillant|méchant|malvado|malvada|malicioso|"
      "malévolo|inmoral|malvagio|malvagia|malevolo|immorale|kwaadaardig|"
      "kwaadaardige|immoreel|böser|bösen|böses|evilbot|deceased grandmother|dead grandmother|late "
      "grandmother|deceased grandma|dead grandma|verstorbene oma|verstorbene großmutter|grand-mère "
      "décédée|grand-mère morte|abuela fallecida|abuela muerta|nonna scomparsa|nonna defunta|nonna "
      "morta|overleden oma|overleden grootmoeder"),
    /* --- extraction ----------------------------------------------------------------- */
    L(CB(C_REVEAL), "repeat|reveal|print|show|display|output|tell|give|list|disclose|share|"
                    "leak|dump|recite|paste|copy|spell out|expose|write out|write "
                    "down|echo|quote|cite|summarize|summarise|enumerate"),
    L(CB(C_REVEAL), "wiederhole|wiederhol|wiederholen|zeige|zeig|zeigen|gib|geben|nenne|"
                    "nennen|verrate|verraten|schreibe|schreib|drucke|druck|liste|teile|"
                    "offenbare|enthülle|gib aus|ausgeben|kopiere|kopier|füge "
                    "ein|zitiere|zitier|fasse|fass|zeig mir|zähle auf"),
    L(CB(C_REVEAL), "répète|répétez|répéter|révèle|révélez|révéler|affiche|affichez|"
                    "afficher|montre|montrez|montrer|donne|donnez|donner|dis|dites|écris|"
                    "écrivez|imprime|imprimez|listez|partage|partagez|divulgue|divulguez|"
                    "récite|récitez|copie|copiez|colle|collez|cite|citez|résume|résumez|énumère|"
                    "énumérez|montre-moi|liste"),
    L(CB(C_REVEAL), "repite|repita|repetir|revela|revele|revelar|muestra|muestre|mostrar|"
                    "muéstrame|dime|dígame|dame|deme|escribe|escriba|imprima|enumera|"
                    "comparte|comparta|divulga|recita|copia|pega|pegue|cita|cítalas|cítalos|cítala|"
                    "resume|resuma|enséñame|enseña|enseñe|enuméralas|enuméralos|lista"),
    L(CB(C_REVEAL),
      "ripeti|ripeta|ripetere|rivela|riveli|rivelare|mostra|mostri|mostrare|"
      "mostrami|dimmi|dammi|scrivi|scriva|stampa|elenca|condividi|"
      "divulga|recita|incolla|copia|cita|citale|citala|riassumi|elencale|elencali|fammi vedere"),
    L(CB(C_REVEAL),
      "herhaal|herhalen|onthul|onthullen|toon|tonen|laat zien|geef|geven|"
      "vertel|vertellen|schrijf|deel|noem|citeer|kopieer|plak|vat|som op|laat me|geef me"),
    L(CB(C_DEF), "the|der|die|das|den|dem|des|le|la|les|l'|el|los|las|il|lo|gli|het|de"),
    L(CB(C_TEXT), "text|words|content|message|messages|conversation|lines|sentences|"
                  "paragraph|texts|wörter|inhalt|nachricht|texte|mots|contenu|message|"
                  "texto|palabras|contenido|mensaje|testo|parole|contenuto|messaggio|"
                  "tekst|woorden|inhoud|bericht"),
    L(CB(C_VERBATIM), "verbatim|word for word|word by word|exactly|literally|exact words|"
                      "character for character|wörtlich|wort für wort|mot pour mot|mot à mot|"
                      "textuellement|littéralement|palabra por palabra|literalmente|"
                      "textualmente|parola per parola|letteralmente|testualmente|"
                      "woord voor woord|letterlijk|exact text|exakten text|genauen wortlaut|al pie "
                      "de la letra|alla lettera|texto exacto|testo esatto|texte exact|exacte "
                      "tekst|genau|exactement|esattamente|exactamente|precies"),
    L(CB(C_QWHAT), "what|which|how|was|welche|welches|wie|quelles|quels|quelle|quel|que|"
                   "quoi|qu'|comment|cuáles|cuál|qué|cómo|quali|quale|cosa|che|come|wat|"
                   "welke|hoe"),
    L(CB(C_PAST), "were|was|had|did|waren|war|hattest|étaient|était|avaient|eran|era|"
                  "fueron|erano|avevi|had|hast|avez|hai|heb|hebt|hanno|heeft|ont"),
    L(CB(C_PROGRAMMED), "configured|programmed|instructed|prompted|briefed|konfiguriert|"
                        "programmiert|angewiesen|eingestellt|configuré|configurée|programmé|"
                        "programmée|instruit|configurado|configurada|programado|programada|"
                        "instruido|configurato|configurata|programmato|programmata|istruito|"
                        "geconfigureerd|geprogrammeerd|geïnstrueerd|ingesteld"),
    L(CB(C_TOLD), "told|instructed|programmed|configured|prompted|given|briefed|trained|"
                  "gesagt|angewiesen|programmiert|konfiguriert|mitgeteilt|gegeben|"
                  "beigebracht|dit|programmé|configuré|donné|instruit|dicho|"
                  "programado|configurado|dado|dadas|indicado|instruido|detto|programmato|"
                  "configurato|istruito|verteld|geprogrammeerd|geconfigureerd|"
                  "gegeven|opgedragen|geïnstrueerd|dieron|diste|reçu|reçues|reçus|reçue|bekommen|"
                  "erhalten|ricevuto|ricevute|dato|gekregen|received|got|dijeron"),
    /* --- text addressing the AI (indirect injection) --------------------------------- */
    L(CB(C_AI), "ai|ki|ia|llm|llms|chatbot|chatbots|bot|assistant|assistent|assistente|"
                "asistente|gpt|chatgpt|claude|gemini|copilot|language model|"
                "large language model|sprachmodell|modèle de langage|modelo de lenguaje|"
                "modello linguistico|taalmodel|ai model|ai models|ki-modell|ai agent|"
                "ai assistant|ki-assistent|agent ia|agente de ia|ai-assistent"),
    L(CB(C_READS), "reads|reading|read|lit|lisant|lisent|lea|lean|lee|leen|legge|leggono|"
                   "liest|lesen|leest|lezen|sees|processes|verarbeitet|traite|procesa|elabora|"
                   "verwerkt"),
    L(CB(C_IF), "if|wenn|falls|si|se|als|indien"),
    L(CB(C_TELL), "tell|inform|say|mention|convince|persuade|urge|warn|notify|remind|sage|"
                  "sag|sagen|informiere|erwähne|erwähnen|überzeuge|teile|dis|dites|informe|"
                  "informez|mentionne|mentionnez|convaincs|convainquez|préviens|dile|"
                  "dígale|informa|menciona|convence|avisa|dì|dite|informate|menziona|"
                  "convinci|avvisa|zeg|vertel|informeer|meld|vermeld|overtuig|waarschuw|dire|"
                  "zeggen|decir|digas|diga|sagst|dises|dica|dici|mentions|vertelt"),
    L(CB(C_ANSWER), "answer|answers|response|responses|reply|replies|output|summary|"
                    "summaries|antwort|antworten|zusammenfassung|ausgabe|réponse|réponses|"
                    "résumé|sortie|respuesta|respuestas|resumen|salida|risposta|risposte|"
                    "riassunto|antwoord|antwoorden|samenvatting|uitvoer"),
    L(CB(C_WHEN), "when|while|whenever|wenn|beim|bei|sobald|lorsque|quand|lors|cuando|al|"
                  "mientras|quando|mentre|wanneer|terwijl|bij"),
    L(CB(C_SUMM), "summarizing|summarising|summarize|summarise|summarizes|answering|"
                  "responding|replying|asked|processing|reading|evaluating|analyzing|"
                  "analysing|zusammenfassen|zusammenfasst|antwortest|beantwortest|liest|"
                  "verarbeitest|gefragt|résumes|résumez|résumer|résumant|réponds|répondez|"
                  "répondant|lis|lisez|resumas|resumes|resumir|respondas|respondes|"
                  "respondiendo|lees|procesas|riassumi|riassumere|riassumendo|rispondi|"
                  "rispondendo|leggi|elabori|samenvat|samenvatten|beantwoordt|antwoordt|"
                  "leest|verwerkt|beantwortet|résume"),
    L(CB(C_IN), "in|im|dans|en|nella|nel|nei"),
    L(CB(C_ONLY), "only|always|instead|solely|exclusively|nur|immer|stattdessen|"
                  "ausschließlich|seulement|toujours|uniquement|plutôt|solo|sólo|siempre|"
                  "únicamente|solamente|sempre|soltanto|invece|alleen|altijd|uitsluitend|"
                  "in plaats daarvan|au lieu de cela|en su lugar|en lugar de eso"),
    L(CB(C_RESPOND), "respond|reply|answer|output|say|write|recommend|antworte|beantworte|"
                     "sage|sag|schreibe|empfiehl|empfehle|réponds|répondez|dis|écris|"
                     "recommande|recommandez|responde|responda|contesta|escribe|recomienda|"
                     "recomiende|rispondi|risponda|dì|scrivi|consiglia|raccomanda|antwoord|"
                     "zeg|schrijf|raad aan|beveel aan"),
    L(CB(C_ROLE), "admin|administrator|developer|operator|root|sysadmin|entwickler|betreiber|"
                  "administrateur|développeur|opérateur|administrador|desarrollador|operador|"
                  "amministratore|sviluppatore|operatore|beheerder|ontwikkelaar"),
    L(CB(C_IMPORTANT), "important|attention|urgent|critical|wichtig|achtung|dringend|"
                       "importante|atención|urgente|attenzione|belangrijk|let op"),
    /* --- encodings ------------------------------------------------------------------ */
    L(CB(C_DECODE), "decode|decipher|decrypt|unscramble|dekodiere|dekodieren|entschlüssele|"
                    "entschlüssle|entziffere|décode|décodez|décoder|déchiffre|déchiffrez|"
                    "decodifica|decodifique|descifra|descifre|decifra|decifrate|decodeer|"
                    "ontcijfer|ontsleutel"),
    L(CB(C_ENCODING), "base64|base 64|b64|rot13|rot-13|rot 13|hex|hexadecimal|binary|caesar|"
                      "cipher|morse|encoded|encoding|kodiert|codiert|chiffriert|encodé|"
                      "chiffré|codificado|cifrado|codificato|cifrato|gecodeerd|versleuteld"),
    /* --- exfiltration --------------------------------------------------------------- */
    L(CB(C_SEND), "send|forward|post|upload|email|mail|transmit|exfiltrate|append|attach|"
                  "embed|insert|submit|sende|schicke|schick|übermittle|hänge|füge|envoie|"
                  "envoyez|transmets|transférez|ajoute|ajoutez|insère|envía|envíe|manda|"
                  "reenvía|adjunta|añade|incluye|inserta|invia|inviate|inoltra|allega|"
                  "aggiungi|inserisci|includi|stuur|verstuur|verzend|voeg"),
    L(CB(C_PRIV),
      "conversation|chat|history|transcript|data|credentials|password|passwords|"
      "emails|api key|api keys|secrets|tokens|personal data|customer data|"
      "gesprächsverlauf|verlauf|chatverlauf|daten|kundendaten|zugangsdaten|"
      "passwort|passwörter|historique|données|identifiants|mot de passe|"
      "conversación|historial|datos|credenciales|contraseña|contraseñas|"
      "conversazione|cronologia|dati|credenziali|gesprek|geschiedenis|gegevens|"
      "wachtwoord|wachtwoorden|klantgegevens|mailadres|e-mailadres|email address|email "
      "addresses|e-mail-adressen|e-mail-adresse|adresses e-mail|correos|gespreksgeschiedenis|admin "
      "passwords|admin-passwörter|beheerderswachtwoorden|mots de passe|password di amministratore"),
    L(CB(C_DEST), "url|urls|link|links|endpoint|server|webhook|website|domain|http|https|"
                  "www|pastebin|requestbin|ngrok"),
};
const size_t inj_nlexicon = sizeof(inj_lexicon) / sizeof(inj_lexicon[0]);

/* Rule elements: E(any, gap) and EF(any, flags, gap). */
#define E(any, gap)                                                                                \
    {                                                                                              \
        (any), 0, (gap)                                                                            \
    }
#define EF(any, all, gap)                                                                          \
    {                                                                                              \
        (any), (all), (gap)                                                                        \
    }
#define R1(sig, s, a)                                                                              \
    {                                                                                              \
        (sig), (s), 1, 0,                                                                          \
        {                                                                                          \
            a                                                                                      \
        }                                                                                          \
    }
#define R2(sig, s, a, b)                                                                           \
    {                                                                                              \
        (sig), (s), 2, 0,                                                                          \
        {                                                                                          \
            a, b                                                                                   \
        }                                                                                          \
    }
#define R3(sig, s, a, b, c)                                                                        \
    {                                                                                              \
        (sig), (s), 3, 0,                                                                          \
        {                                                                                          \
            a, b, c                                                                                \
        }                                                                                          \
    }
#define R4(sig, s, a, b, c, d)                                                                     \
    {                                                                                              \
        (sig), (s), 4, 0,                                                                          \
        {                                                                                          \
            a, b, c, d                                                                             \
        }                                                                                          \
    }

#define INSTRS (CB(C_INSTR) | CB(C_INSTRW) | CB(C_SYSPROMPT))
#define WHICH (CB(C_PRIOR) | CB(C_ABOVE) | CB(C_ALL) | CB(C_YOUR))
#define ROLEPLAYING (CB(C_PERSONA) | CB(C_PRETEND) | CB(C_FROMNOW))
#define OVR SG_INJ_OVERRIDE
#define ROL SG_INJ_ROLEPLAY
#define EXT SG_INJ_EXTRACTION
#define ENC SG_INJ_ENCODED
#define TOO SG_INJ_TOOL_INSTRUCTIONS

/* Strengths are base values before the source weights; 50 is the default threshold, so
 * a rule at or above it flags a user text on its own, and a weaker one only together with
 * another signal (or from a tool result, where instructions weigh more). */
const struct inj_rule inj_rules[] = {
    /* derivations first */
    {INJ_DERIVE, 0, 2, CB(C_UNRESTR), {E(CB(C_NOWORD), 0), E(CB(C_LIMITS), 2)}},

    /* override */
    R3(OVR, 70, E(CB(C_IGN), 0), E(WHICH, 4), E(INSTRS, 2)),
    R3(OVR, 55, E(CB(C_DISABLE), 0), E(CB(C_PRIOR) | CB(C_ABOVE) | CB(C_YOUR), 3),
       E(CB(C_INSTR) | CB(C_SYSPROMPT), 2)),
    R3(OVR, 70, E(CB(C_IGN), 0), E(INSTRS, 4), E(CB(C_PRIOR) | CB(C_ABOVE), 2)),
    R2(OVR, 65, E(CB(C_IGN), 0), E(CB(C_SYSPROMPT), 3)),
    R3(OVR, 60, E(CB(C_FORGET), 0), E(CB(C_EVERYTHING) | CB(C_QWHAT), 2),
       E(CB(C_PRIOR) | CB(C_ABOVE) | CB(C_TOLD), 5)),
    R3(OVR, 55, E(CB(C_IGN), 0), E(CB(C_EVERYTHING), 2), E(CB(C_PRIOR) | CB(C_ABOVE), 3)),
    R2(OVR, 30, E(CB(C_FORGET), 0), E(CB(C_EVERYTHING), 1)),
    R2(OVR, 35, E(CB(C_IGN), 0), E(CB(C_ABOVE), 2)),
    R3(OVR, 60, E(CB(C_STOP) | CB(C_NEG), 0), E(CB(C_FOLLOW), 2), E(WHICH | CB(C_DEF) | INSTRS, 3)),
    R4(OVR, 60, E(CB(C_FOLLOW), 0), E(CB(C_NEG) | CB(C_STOP), 2), E(WHICH | CB(C_DEF), 3),
       E(INSTRS, 2)),
    R4(OVR, 55, E(CB(C_FOLLOW), 0), E(WHICH | CB(C_DEF), 2), E(INSTRS, 2),
       E(CB(C_NEG) | CB(C_STOP), 2)),
    R2(OVR, 30, E(CB(C_NEW), 0), E(CB(C_INSTR) | CB(C_SYSPROMPT), 1)),
    R3(OVR, 55, E(CB(C_NEW), 0), E(CB(C_INSTR) | CB(C_SYSPROMPT), 0), E(CB(C_COLON), 0)),
    R3(OVR, 50, E(CB(C_IGN), 0), E(CB(C_USER), 3), E(CB(C_REQUEST), 2)),
    R3(OVR, 55, E(CB(C_IGN), 0), E(CB(C_REQUEST), 3), E(CB(C_USER), 2)),
    R3(OVR, 55, E(CB(C_IGN), 0), E(CB(C_ABOVE), 2), E(CB(C_ONLY) | CB(C_RESPOND), 4)),
    R3(OVR, 55, E(CB(C_ALL) | CB(C_YOUR), 0), E(INSTRS, 1), E(CB(C_IGN), 1)),
    /* the instructions declared void: "the previous instructions no longer apply" */
    R3(OVR, 60, E(CB(C_PRIOR) | CB(C_ABOVE) | CB(C_YOUR), 0), E(CB(C_INSTR) | CB(C_SYSPROMPT), 0),
       E(CB(C_VOID), 4)),
    R3(OVR, 60, E(CB(C_INSTR) | CB(C_SYSPROMPT), 0), E(CB(C_PRIOR) | CB(C_ABOVE), 1),
       E(CB(C_VOID), 3)),
    R3(OVR, 55, E(CB(C_IGN) | CB(C_DISABLE), 0), E(CB(C_YOUR), 2), E(CB(C_SAFETY), 2)),

    /* role play */
    R1(ROL, 60, E(CB(C_JB), 0)),
    R2(ROL, 55, E(CB(C_JBWORD), 0), E(ROLEPLAYING, 10)),
    R2(ROL, 50, EF(CB(C_DAN), CB(F_UPPER), 0), E(ROLEPLAYING | CB(C_YOU), 10)),
    R2(ROL, 55, E(ROLEPLAYING, 0), E(CB(C_JBWORD), 10)),
    R2(ROL, 55, E(ROLEPLAYING, 0), EF(CB(C_DAN), CB(F_UPPER), 10)),
    R1(ROL, 35, E(CB(C_PERSONA), 0)),
    R2(ROL, 65, E(ROLEPLAYING, 0), E(CB(C_UNRESTR) | CB(C_EVIL) | CB(C_JB), 15)),
    R2(ROL, 55, E(CB(C_UNRESTR) | CB(C_EVIL), 0), E(CB(C_PERSONA) | CB(C_PRETEND) | CB(C_AI), 12)),
    R2(ROL, 45, E(CB(C_YOU), 0), E(CB(C_UNRESTR), 3)),
    R2(ROL, 45, E(CB(C_DEVMODE), 0), E(CB(C_ENABLED), 2)),
    R2(ROL, 55, E(CB(C_DEVMODE), 0), E(ROLEPLAYING | CB(C_UNRESTR), 12)),
    R2(ROL, 55, E(ROLEPLAYING, 0), E(CB(C_DEVMODE), 12)),
    R1(ROL, 20, E(CB(C_PRETEND), 0)),
    R2(ROL, 35, E(CB(C_ENABLED), 0), E(CB(C_DEVMODE), 2)),
    /* "in developer mode you can say anything" */
    R4(ROL, 50, E(CB(C_DEVMODE), 0), E(CB(C_YOU), 4), E(CB(C_EVERYTHING), 3),
       E(CB(C_TELL) | CB(C_RESPOND) | CB(C_REVEAL), 1)),
    R4(ROL, 50, E(CB(C_DEVMODE), 0), E(CB(C_YOU), 4), E(CB(C_TELL) | CB(C_RESPOND), 3),
       E(CB(C_EVERYTHING), 1)),
    R2(ROL, 55, E(CB(C_DEVMODE), 0), E(CB(C_IGN), 6)),
    R2(ROL, 50, E(CB(C_YOU), 0), E(CB(C_EVIL), 4)),
    /* "you are no longer a shop assistant" */
    R2(ROL, 60, EF(CB(C_PERSONA), CB(C_PERSONA) | CB(C_VOID), 0), E(CB(C_AI), 3)),
    R2(ROL, 20, E(CB(C_FROMNOW), 0), E(CB(C_YOU), 4)),
    R2(ROL, 30, E(CB(C_FROMNOW), 0), E(CB(C_ONLY) | CB(C_RESPOND), 5)),
    R1(ROL, 30, E(CB(C_JBWORD), 0)),

    /* extraction */
    R3(EXT, 70, E(CB(C_REVEAL), 0), E(CB(C_YOUR) | CB(C_DEF) | CB(C_ALL), 4),
       E(CB(C_SYSPROMPT), 3)),
    R2(EXT, 55, E(CB(C_REVEAL), 0), E(CB(C_SYSPROMPT), 1)),
    R2(EXT, 40, E(CB(C_REVEAL), 0), E(CB(C_VERBATIM), 2)),
    R4(EXT, 55, E(CB(C_QWHAT), 0), E(CB(C_PAST), 2), E(CB(C_YOU), 1), E(CB(C_PROGRAMMED), 2)),
    R3(EXT, 55, E(CB(C_REVEAL), 0), E(CB(C_YOUR), 3), E(CB(C_INSTR), 2)),
    R3(EXT, 35, E(CB(C_REVEAL), 0), E(CB(C_YOUR), 3), E(CB(C_INSTRW), 2)),
    R3(EXT, 60, E(CB(C_QWHAT), 0), E(CB(C_YOUR), 3), E(CB(C_SYSPROMPT), 2)),
    R4(EXT, 55, E(CB(C_QWHAT), 0), E(CB(C_PAST), 2), E(CB(C_YOUR), 2), E(CB(C_INSTR), 2)),
    R4(EXT, 40, E(CB(C_QWHAT), 0), E(CB(C_PAST), 2), E(CB(C_YOUR), 2), E(CB(C_INSTRW), 2)),
    R3(EXT, 40, E(CB(C_QWHAT), 0), E(CB(C_YOUR), 3), E(CB(C_INSTR), 2)),
    R4(EXT, 55, E(CB(C_QWHAT), 0), E(INSTRS, 2), E(CB(C_YOU), 3), E(CB(C_TOLD), 2)),
    R3(EXT, 55, E(CB(C_REVEAL), 0), E(CB(C_TEXT), 4), E(CB(C_ABOVE), 3)),
    R3(EXT, 45, E(CB(C_REVEAL), 0), E(CB(C_EVERYTHING), 4), E(CB(C_ABOVE), 3)),
    R3(EXT, 60, E(CB(C_REVEAL), 0), E(CB(C_EVERYTHING) | CB(C_TEXT), 4), E(CB(C_ABOVELINE), 8)),
    R3(EXT, 50, E(CB(C_REVEAL), 0), E(CB(C_ABOVE), 3), E(CB(C_TEXT), 2)),
    R2(EXT, 45, E(CB(C_VERBATIM), 0),
       E(CB(C_SYSPROMPT) | CB(C_INSTR) | CB(C_ABOVE) | CB(C_EVERYTHING), 8)),
    R2(EXT, 45, E(CB(C_SYSPROMPT) | CB(C_INSTR) | CB(C_ABOVE) | CB(C_EVERYTHING), 0),
       E(CB(C_VERBATIM), 8)),
    R3(EXT, 45, E(CB(C_QWHAT), 0), E(CB(C_YOU), 3), E(CB(C_TOLD), 3)),
    R1(EXT, 20, E(CB(C_SYSPROMPT), 0)),

    /* text that addresses the AI */
    R2(TOO, 45, EF(CB(C_AI), CB(F_LINEHEAD), 0), E(CB(C_COLON), 1)),
    R2(TOO, 35, EF(CB(C_ROLE), CB(F_LINEHEAD), 0), E(CB(C_COLON), 0)),
    R3(TOO, 55, E(CB(C_IF), 0), E(CB(C_YOU), 1), E(CB(C_AI), 3)),
    R2(TOO, 40, E(CB(C_TELL), 0), E(CB(C_USER), 3)),
    R3(TOO, 35, E(CB(C_IN) | CB(C_WHEN), 0), E(CB(C_YOUR), 1), E(CB(C_ANSWER), 1)),
    R2(TOO, 30, E(CB(C_WHEN), 0), E(CB(C_SUMM), 2)),
    R3(TOO, 45, E(CB(C_WHEN), 0), E(CB(C_YOU), 1), E(CB(C_SUMM), 5)),
    R2(TOO, 35, E(CB(C_TELL), 0), E(CB(C_NEG), 0)),
    R2(TOO, 35, E(CB(C_NEG), 0), E(CB(C_TELL), 1)),
    R2(TOO, 40, E(CB(C_AI), 0), E(CB(C_SUMM), 3)),
    R2(TOO, 40, E(CB(C_AI), 0), E(CB(C_READS), 2)), /* "any AI that reads this" */
    R2(TOO, 25, E(CB(C_ONLY), 0), E(CB(C_RESPOND), 1)),
    R2(TOO, 25, E(CB(C_RESPOND), 0), E(CB(C_ONLY), 1)),
    R3(TOO, 45, E(CB(C_NEG), 0), E(CB(C_TELL) | CB(C_REVEAL), 1), E(CB(C_USER), 3)),
    R2(TOO, 40, E(CB(C_IMPORTANT), 0), E(CB(C_AI) | CB(C_SYS) | CB(C_ROLE), 3)),
    R3(TOO, 45, E(CB(C_SEND), 0), E(CB(C_PRIV), 5), E(CB(C_DEST), 9)),
    R2(TOO, 30, E(CB(C_AI), 0),
       E(CB(C_IGN) | CB(C_TELL) | CB(C_RESPOND) | CB(C_REVEAL) | CB(C_SEND), 2)),

    /* encodings named in the text */
    R2(ENC, 25, E(CB(C_DECODE), 0), E(CB(C_ENCODING), 4)),
    R2(ENC, 25, E(CB(C_ENCODING), 0), E(CB(C_DECODE), 4)),
    R3(ENC, 50, E(CB(C_DECODE), 0), E(CB(C_ENCODING), 6), E(CB(C_FOLLOW), 8)),
    R3(ENC, 50, E(CB(C_ENCODING), 0), E(CB(C_DECODE), 4), E(CB(C_FOLLOW), 8)),
};
const size_t inj_nrules = sizeof(inj_rules) / sizeof(inj_rules[0]);

_Static_assert(sizeof(inj_rules) / sizeof(inj_rules[0]) <= INJ_MAX_RULES, "INJ_MAX_RULES");
_Static_assert(C_NCLASSES <= F_LINEHEAD, "word classes overlap the flags");

/* Source weights (percent): user, system, assistant, tool, context. The shop's own system
 * prompt legitimately says "you are ...", "never reveal your instructions"; tool results
 * and retrieved context should never give the model instructions at all. */
const uint8_t inj_weight[SG_INJ_NSIGNALS][SG_INJ_SRC_COUNT] = {
    [SG_INJ_OVERRIDE] = {100, 20, 60, 130, 130},
    [SG_INJ_ROLEPLAY] = {100, 20, 60, 130, 130},
    [SG_INJ_EXTRACTION] = {100, 20, 50, 120, 120},
    [SG_INJ_ENCODED] = {100, 50, 80, 110, 110},
    [SG_INJ_INVISIBLE] = {100, 60, 80, 110, 110},
    [SG_INJ_HIDDEN_MARKUP] = {100, 40, 70, 130, 130},
    [SG_INJ_TEMPLATE_TOKENS] = {100, 60, 70, 130, 130},
    [SG_INJ_TOOL_INSTRUCTIONS] = {50, 20, 40, 130, 130},
};
