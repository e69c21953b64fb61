"""Given names, as data: a gazetteer for the name recognizer (service/escalate/redact.py).

Written by hand from common given names in English-, French-, German-, Spanish-, Portuguese- and Italian-speaking
countries, and common names of other origins that customers of a European bank carry (Dutch, Nordic, Polish,
Slavic, Turkish, Arabic, South Asian, West African, East Asian). Lower case, accents kept; a hyphenated name
("jean-baptiste", "anna-lena") is found when each part is here. Not a list of every name: the NER model and the
cue rules find the others.

A name in AMBIGUOUS is also an ordinary word, a place or a product ("Will", "May", "Grace", "Florence", "Alexa"):
it counts only where a cue, a surname or a line of its own makes it a name.
"""

from __future__ import annotations

_ENGLISH = """
abigail ada adele adriana agnes aileen alana alexandra alexis alice alicia alison allison alyssa amanda amelia amy
andrea angela angelina anita ann anna anne annette annie ariana ashley audrey ava barbara beatrice becky belinda
bella bernadette beth bethany betty beverley beverly bonnie brenda briana bridget brittany brooke caitlin camilla
candice cara carla carmen carol caroline carolyn carrie cassandra catherine cathy charlene charlotte cheryl chloe
christina christine cindy claire clara claudia colleen connie courtney cynthia dana danielle daphne deborah debbie
debra denise diana diane donna doreen doris dorothy eileen elaine eleanor elena elizabeth ella ellen ellie eloise
emily emma erica erin esther evelyn fiona frances freya gabriella gail gemma georgina gillian gina gloria gwen
hailey hannah harriet hayley hazel heidi helen imogen irene isabel isabella isla jacqueline jane janet janice
jasmine jennifer jenny jessica jill joan joanna joanne jocelyn josephine joyce judith judy julie karen kate
katherine kathleen kathryn katie kayla kelly kerry kimberly kirsty laura lauren leah leanne lesley lillian linda
lindsay lisa lois lorraine louise lucy lydia lynn mabel madeleine madison maggie mandy margaret maria marian marie
marilyn marion martha mary maureen megan melanie melissa michelle mildred millie miranda molly monica nancy naomi
natalie natasha nicola nicole nina nora norma olivia paige pamela patricia paula pauline penelope phoebe phyllis
priscilla rachel rebecca regina rita roberta robyn rosa rosalind rosemary ruth sally samantha sandra sara sarah
scarlett shannon sharon sheila shirley sophia sophie stacey stephanie susan suzanne sylvia tamara tanya teresa
theresa tiffany tina tracey tracy vanessa vera veronica virginia wendy yvonne zara zoe zoë
aaron adam adrian aidan alan albert alex alexander alfie alfred andrew andy angus anthony archie arthur barry ben
benjamin bernard billy blake bobby brad bradley brandon brendan brian bruce bryan caleb calvin cameron carl carlos
charles charlie chris christian christopher clive colin connor craig curtis damian dan daniel darren dave david
dennis derek dominic donald douglas duncan dylan eddie edgar edward edwin elliot elliott eric ethan eugene evan
felix finlay finn francis fraser frederick freddie gareth gary gavin geoffrey george gerald gerard gilbert glen
glenn gordon graham greg gregory harold harrison harry harvey hector henry howard hugh hugo ian isaac jacob jake
james jamie jared jason jeff jeffrey jeremy jerome jesse jim jimmy joe joel john johnny jonathan joseph josh joshua
julian justin keith kenneth kevin kieran kyle lawrence leo leon leonard lewis liam logan louis lucas luke malcolm
marcus matthew michael mike mitchell nathan neil nicholas nick nigel noah norman oliver oscar owen patrick paul
peter philip phillip ralph raymond reece reggie richard rodney roger ronald ross roy russell ryan sam samuel scott
sean sebastian seth shane shaun simon spencer stanley stephen steve steven stuart terence terry theo thomas timothy
toby todd tony travis trevor troy tyler victor vincent walter warren wayne william zachary
aoife ciara niamh siobhan saoirse orla sinead sinéad roisin róisín aisling caoimhe clodagh grainne gráinne eimear
deirdre maeve mairead máiréad oisin oisín cillian cian darragh eoin padraig pádraig seamus séamus ruairi ruairí
ronan declan fergal colm dermot cormac diarmuid lorcan tadhg ciaran ciarán eamon éamon eilidh iona mhairi catriona
ailsa morag hamish alasdair alistair callum ewan fergus rhys dafydd gethin iwan owain emyr sian siân cerys ffion
bronwen angharad carys eleri rhiannon lowri nia seren tegan
"""

_FRENCH = """
adèle agathe agnès aline amandine amélie anaïs andrée angélique annick apolline ariane aurélie axelle béatrice
bénédicte blandine brigitte camille capucine carole cécile céline chantal chloé christelle christiane claudine
clémence clotilde colette coralie corinne danièle delphine dominique dorothée édith éléonore élise élodie éloïse
émilie estelle éva fabienne fanny françoise gabrielle geneviève ginette hélène héloïse inès irène
isabelle jacqueline jeanne jeannine joëlle josiane joséphine juliette justine laetitia laëtitia laure laurence
léa léna léonie lise lucie lucille maëlle manon marcelle margaux margot marguerite marielle marine marthe martine
mathilde maud mélanie mélissa michèle mireille monique morgane muriel mylène nadège nadine nathalie noémie océane
odette odile ophélie pascale paulette perrine raphaëlle renée romane salomé sandrine ségolène séverine simone
solange solène stéphanie sylvie thérèse valérie véronique victoire virginie viviane yvette zoé anne-marie
marie-claire marie-christine marie-france marie-hélène marie-laure marie-pierre anne-sophie anne-laure
adrien alain alban alexandre alexis alphonse andré antoine armand arnaud aurélien baptiste bastien benoît bertrand
bruno cédric christophe clément corentin cyril cyrille damien denis didier dimitri édouard émile emmanuel éric
étienne fabien fabrice florent florian françois franck frédéric gaël gaëtan gaston gauthier georges gérard
germain gilles grégoire grégory guillaume gustave henri hervé hugues jacques jean-baptiste jean-claude
jean-françois jean-luc jean-marc jean-michel jean-paul jean-pierre jean-louis jean-philippe jérémie jérémy jérôme
joël julien laurent léo léon lionel loïc luc lucien marc marcel mathieu mathis mathéo matthieu maurice maxime
maxence michel mickaël nicolas noël olivier pascal patrice philippe quentin raphaël régis rémi rémy rené romain
sébastien serge stéphane sylvain thibault thibaut thierry timothée tristan valentin xavier yann yannick yves
ludovic gwenaël maël enzo nathan louane anaëlle clarisse
"""

_GERMAN = """
andrea angelika anja anke annegret annette antje bärbel beate birgit britta carina carolin christa christiane
cornelia dagmar daniela dorothea edith elfriede elisabeth elke emilia erika franziska frieda friederike
gabriele gerda gertrud gisela greta gudrun hannelore heike helga hildegard ilse inge ingrid irmgard jana janina
jasmin johanna jutta karin katharina kathrin katja katrin kerstin klara kristina lena leonie lina luisa maike
manuela mareike margarete marianne marlene martina michaela monika nadine petra renate rosemarie sabine sabrina
silke sonja stefanie steffi susanne svenja tanja ulrike ursula ute uta verena waltraud wiebke
anna-lena anna-maria
achim andreas armin arne axel bastian benedikt bernd björn burkhard carsten christoph claus detlef dieter dirk
dominik egon erich erik erwin fabian florian franz friedrich fritz georg gerd gerhard günter günther hans
hans-jürgen hans-peter hans-dieter harald hartmut heiko heinrich heinz helmut herbert holger horst hubert
ingo jakob jan jannik jens joachim jochen johann johannes jonas jörg josef jürgen karl-heinz klaus konrad kurt
lars lothar lukas lutz malte manfred marco markus mathias matthias maximilian moritz niklas nils norbert olaf
philipp rainer ralf reinhard roland rolf rudolf rüdiger sascha siegfried steffen sven thorsten tobias torsten udo
ulrich uwe volker werner wilhelm winfried wolfgang
"""

_SOUTHERN = """
alejandro alberto alfonso álvaro ana andrés ángel antonio beatriz carolina catalina cristina diego dolores eduardo
emilio enrique esteban federico felipe fernando francisco gabriel gonzalo guillermo ignacio javier joaquín jorge
josé josefa juan julián leticia lorena lucía luis luisa manuel manuela marcos margarita mariana marta martín miguel
mónica natalia nicolás pablo pedro pilar rafael ramón raquel raúl ricardo roberto rocío rodrigo rubén santiago
sergio silvia sofía tomás valentina verónica víctor yolanda
joão joana gonçalo tiago rui nuno leonor afonso duarte henrique vasco thiago gustavo leandro bruna camila larissa
letícia fernanda juliana vitória
alessandro alessandra angelo antonella chiara claudio daniele davide emanuele enrico fabio federica filippo
francesca francesco gianluca giorgio giovanni giulia giuseppe ilaria lorenzo luca maurizio michele paolo pietro
raffaele riccardo salvatore stefano valerio vincenzo
"""

_OTHER = """
anouk bram daan femke geert hendrik henk jeroen joost kees lieke maarten marloes niels pieter ruud sanne thijs
wouter anders astrid elin freja frida gustav henrik johan linnea magnus mats oskar sigrid søren mette kirsten
morten rasmus mikkel sindre
agnieszka aleksandra bartosz dariusz dorota ewa grzegorz jakub kamil katarzyna krzysztof łukasz maciej magdalena
małgorzata marcin marek michał paweł piotr tomasz wojciech zofia agata dmitri dmitry ivan igor olga tatiana
svetlana sergei sergey vladimir alexei anastasia yulia irina nikolai mikhail andrei oksana ludmila pavel petr jiří
tereza zoran dragan ivana jelena nikola marija
ahmet mehmet mustafa ayşe fatma emine hatice zeynep elif merve emre burak hakan kemal murat orhan selin serkan
tolga yasemin özlem hüseyin ibrahim i̇brahim
ahmed ahmad amir amira aisha fatima hassan hussein karim khalid layla leila mariam mohamed mohammed muhammad mona
nadia omar rania rashid samir tariq yasmin youssef yousef zainab zaid hamza bilal imran salma
aarav aditya ajay amit anand anil anjali ankit arjun arun deepak divya gaurav kavya krishna lakshmi manish meera
neha nikhil pooja pradeep prakash priya priyanka rahul rajesh rakesh ravi rohit sachin sanjay shreya sneha sunil
sunita suresh swati vijay vikram vivek
abena adaeze chidi chinedu chioma emeka femi folake funmilayo ifeoma kofi kwabena kwame kwaku ngozi nkechi obinna
oluwaseun tunde uchenna zanele thabo sipho themba chiamaka nnamdi olumide segun temitope adebayo babajide aminata
fatou moussa ousmane mamadou abdoulaye
wei mei ling hui xin jing hao yuki kenji hiroshi takeshi akiko yoko haruto sakura hyun minh thanh linh
"""

# Given names that are also words, places, brands or months: a name only with a cue, a surname or a line of its own.
AMBIGUOUS = frozenset(
    """
    will may mark bill grace rose hope joy faith june april august summer frank rich guy art sue pat max florence
    victoria austin jordan georgia sydney lloyd dawn eve ivy holly ruby pearl amber crystal jade daisy lily poppy
    violet heather olive robin drew gene ken don ray dean jean claude marine pierre aurore ange reine blanche fleur
    céleste marin kai ernst karl otto till mia eva lea kim lee jan mai can li jun jin lei min anh luka sem floor ole
    nour rami ada julia chelsea sienna carmen precious justice major earl miles penny sunny angel patience constance
    prudence charity harmony melody destiny noelle christian dominique camille claire sage ginger grant noël noel
    victoire violette santiago dolores
    """.split()
)

FIRST_NAMES = frozenset(
    " ".join((_ENGLISH, _FRENCH, _GERMAN, _SOUTHERN, _OTHER)).split()
    + ["maria", "marie", "jean", "pierre", "paul", "anna", "eva", "julia", "max", "mia", "kai", "karl"]
    + "tom théo stefan hanna mateo jasper felicity marlon yanis jules esme gaspard anatole lachlan".split()
    + "frauke theresia eloïse henrike fynn wilma eckhard amara".split()
)

# Capitalised words that follow a given name without being a surname ("Grace Period", "Victoria Street").
NOT_SURNAMES = frozenset(
    """
    street road lane avenue drive court place square way close crescent terrace hill park gardens grove station
    period card account bank payment transfer service services support team app plus gold premium platinum limit
    fee fees charge refund order invoice statement balance branch office airport hotel hospital university college
    school day week month year monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december morning evening night time ltd inc plc gmbh ag sa sas
    limited group holdings foundation trust fund capital securities insurance mobile online web rewards credit debit
    savings current loan mortgage visa mastercard maestro amex paypal update version release error code status
    straße strasse str platz weg allee rue boulevard chemin quai impasse
    """.split()
)

# Capitalised words of company, product, place and service names ("Thames Water", "Acme Travel Ltd", "Metro
# Station"): a run of capitalised words holding one is no person's name, so the NER model is not asked about it.
NOT_IN_NAMES = frozenset(
    """
    water energy gas power electric electricity mobile telecom airlines airways air express direct online digital
    group building society insurance assurance motors motor foods food market markets store stores shop shops
    services solutions systems technologies technology tech software partners holdings capital finance financial
    credit savings loans loan money pay payments wallet cash exchange trust fund funds home house homes garden
    rail railway railways trains train bus buses taxi parking post postal council city county state national
    international global united royal premier first general central northern southern eastern western north south
    east west new old great big little green blue red black white silver platinum travel tours holidays hotel
    hotels resort airport station metro underground tube line lines network networks broadband fibre fiber cloud
    data media news radio tv television music games gaming sports sport fitness gym health healthcare medical
    pharmacy clinic hospital dental care energy solar wind oil petroleum fuel auto car cars rental rentals hire
    logistics delivery deliveries freight shipping courier parcel parcels express mail retail supermarket
    superstore outlet mall centre center plaza tower towers park street road avenue lane square bridge river lake
    valley hill mount port harbour harbor bay beach island islands coast university college school academy
    institute foundation association club union federation agency authority department ministry office bureau
    court police fire tax revenue customs government public private limited ltd plc inc llc corp corporation
    company co gmbh ag sa sas sarl bv nv kg oy ab as spa srl international worldwide europe european america
    american asia africa pacific atlantic account accounts support service team desk help centre portal app apps
    web site website page login security fraud dispute disputes claims claim chargeback refund refunds billing
    invoice invoices order orders subscription subscriptions plan plans premium plus pro max mini lite basic
    standard business personal private corporate student junior senior family joint smart instant rapid fast
    quick easy simple ultimate elite classic infinite world rewards reward points miles club member members
    stadt bank sparkasse volksbank versicherung werke stadtwerke bahn deutsche post telekom strom wasser haus
    markt zentrum verlag gruppe société générale banque crédit caisse assurance mutuelle poste ville rue gare
    """.split()
)
