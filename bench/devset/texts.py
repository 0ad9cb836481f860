"""The text the dev set speaks: dictation sentences, paragraphs, numbers and one-word answers.

All of it was written for this dev set (the Harvard sentences are public domain, IEEE 1969).
Numbers are written as digits, as Whisper prints them; espeak-ng reads them out as words.
"""

from __future__ import annotations

import random

# Dictation: things people say to a note-taking or messaging program, one utterance each.
DICTATION = (
    "Remind me to call the dentist tomorrow morning before nine.",
    "Please add milk, eggs and a loaf of bread to the shopping list.",
    "The meeting with the design team has moved to the small room upstairs.",
    "Send a message to Anna saying I will be ten minutes late.",
    "Our quarterly report is due at the end of next week.",
    "Book a table for four at the Italian place on Saturday evening.",
    "The printer on the second floor is out of paper again.",
    "Tell the kids that dinner will be ready in half an hour.",
    "I think we should postpone the launch until the tests pass.",
    "Write down that the client prefers the blue version of the logo.",
    "The train was delayed because of a signal failure near the station.",
    "Could you check whether the contract has been signed by both parties?",
    "New paragraph. The results of the survey were better than we expected.",
    "Most customers asked for a simpler way to reset their password.",
    "Remember to water the plants on the balcony while I am away.",
    "The flight lands early in the afternoon, so I can join the call.",
    "Please forward the invoice to the accounting department.",
    "We ran out of coffee filters in the kitchen this morning.",
    "Schedule a short review with Peter and Laura on Monday.",
    "The new heating system should save us a lot of energy this winter.",
    "I left my umbrella in the car, so I will be a little wet.",
    "The library closes early on public holidays.",
    "Let us meet at the corner cafe after the workshop.",
    "The doctor said the results look normal and there is nothing to worry about.",
    "Move the weekly standup to half past ten from now on.",
    "The package was left with the neighbor across the street.",
    "Cancel my subscription to the evening newspaper.",
    "Our team finished the migration two days ahead of schedule.",
    "The garden needs a new fence before the spring comes.",
    "I would like a window seat if one is still available.",
    "The battery of my laptop drains much faster than it used to.",
    "Ask the landlord when the plumber is coming to fix the sink.",
    "Everyone agreed that the old process was too slow.",
    "Please turn off the lights in the conference room when you leave.",
    "The museum has a new exhibition about the history of flight.",
    "We need more chairs for the guests in the back row.",
    "Save this draft and remind me to finish it tonight.",
    "The weather forecast says it will rain for most of the weekend.",
    "Check the spelling of the company name in the second paragraph.",
    "My sister is visiting us for a few days next month.",
    "The bakery around the corner makes the best bread in town.",
    "Please keep the door closed so the cat does not get out.",
    "The software update fixed the problem with the sound.",
    "Let the team know that the office will be closed on Friday.",
    "I have already paid the electricity bill for this month.",
    "The bus stop was moved to the other side of the bridge.",
    "Put the boxes in the basement next to the old bicycle.",
    "The children built a small boat out of wood and string.",
    "A quiet room helps me focus on difficult problems.",
    "Thank you for the quick reply and the helpful notes.",
    "The store will open an hour later because of the inventory.",
    "Please bring your own water bottle to the hiking trip.",
    "The interview went well and they want to talk again next week.",
    "Make a note that the brakes on the van need checking.",
    "We should ask for a second opinion before we decide.",
    "The concert tickets sold out within a few minutes.",
    "Please print two copies of the agenda for the board.",
    "Our neighbors are planning a street party in the summer.",
    "The river was so high that the path along it was closed.",
    "Let me know if you need anything else from me today.",
)

# Harvard sentences (lists 1 to 6), read sentences of the kind used to test speech systems.
HARVARD = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
    "The frosty air passed through the coat.",
    "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.",
    "The show was a flop from the very start.",
    "A saw is a tool used for making boards.",
    "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.",
    "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.",
    "Both lost their lives in the raging storm.",
)

# Continuous speech: paragraphs read without pauses, as in a talk or a lecture.
PARAGRAPHS = (
    (
        "Bees are among the most important animals on the planet, although most people only "
        "notice them when they are stung. A single colony can hold tens of thousands of workers, "
        "and each of them has a job that changes as it grows older. Young bees clean the cells "
        "and feed the larvae, while older ones guard the entrance or fly out to collect nectar "
        "and pollen. When a forager finds a good patch of flowers, it returns to the hive and "
        "performs a short dance that tells the others the direction and the distance. Farmers "
        "depend on this work, because many fruits and vegetables would not grow without it. In "
        "recent years the number of colonies has fallen in many countries, and scientists are "
        "still trying to understand all of the reasons. Pesticides, parasites and the loss of "
        "wild flowers all seem to play a part."
    ),
    (
        "The first public libraries were small rooms with a few shelves of books that could not "
        "be taken home. Over time they grew into large buildings with reading rooms, maps, "
        "newspapers and collections of music. Today a library is also a place where people come "
        "to use a computer, to print a document or to ask for help with a form. Many libraries "
        "lend tools, games and even musical instruments, and some offer classes for children and "
        "adults. Librarians say that the busiest hours are right after school and on rainy "
        "weekends. Although more and more books are read on screens, the number of visitors has "
        "stayed high in most towns. A quiet and warm place that is open to everyone is still "
        "hard to find anywhere else, and that may be the most valuable thing a library offers."
    ),
    (
        "Learning to cook is easier than most people think, as long as you start with a few "
        "simple dishes. A good first step is to learn how to cut vegetables safely and quickly, "
        "because almost every recipe begins that way. After that you can practice making a "
        "soup, a pasta sauce and a simple salad dressing. Taste the food often while it cooks "
        "and add salt a little at a time. Do not worry if the first attempts are not perfect, "
        "since every mistake teaches you something about heat, timing and flavor. Cooking for "
        "friends is a great way to stay motivated, and they will usually forgive a burnt piece "
        "of bread. After a few months you will find that you no longer need to read every step, "
        "and you can start to invent your own dishes."
    ),
    (
        "Mountain weather can change very quickly, and hikers who ignore the signs often get into "
        "trouble. In the morning the sky may be clear and the air calm, but by the afternoon "
        "clouds can build up over the peaks and bring thunder, hail or even snow. Experienced "
        "walkers start early, carry warm clothes and check the forecast the evening before. They "
        "also tell someone where they are going and when they expect to return. A map and a "
        "compass are still useful, because phones lose their signal and their batteries run "
        "out in the cold. If the weather turns bad, the safest choice is usually to turn around "
        "and come back another day. The mountain will still be there next week, and the view "
        "from the top is much better in the sunshine."
    ),
    (
        "The history of the bicycle is a story of many small improvements. The earliest machines "
        "had no pedals at all, and riders pushed themselves along with their feet. Later "
        "designs put the pedals on a huge front wheel, which made them fast but dangerous, "
        "because a small stone could throw the rider over the handlebars. The safety bicycle, "
        "with two wheels of the same size and a chain to the back wheel, changed everything. "
        "Suddenly cycling was possible for almost anyone, and it gave many people a freedom to "
        "travel that they had never had before. Air filled tires made the ride more comfortable, "
        "and gears made it easier to climb hills. Today cities build special lanes for bicycles, "
        "and electric motors help riders who need a little extra power."
    ),
    (
        "Sleep is not simply a time when the body switches off. During the night the brain moves "
        "through several stages, from light sleep to deep sleep and then to the stage in which "
        "most dreams happen. Each cycle lasts about an hour and a half, and a good night contains "
        "four or five of them. Deep sleep helps the body repair itself, while dreaming seems to "
        "play a role in memory and in handling emotions. People who sleep too little for many "
        "nights in a row find it harder to concentrate and make more mistakes at work. Doctors "
        "recommend going to bed at the same time every evening, keeping the bedroom dark and "
        "cool, and putting screens away an hour before sleep. A short walk in daylight during "
        "the morning also helps the body keep its natural rhythm."
    ),
    (
        "Trains changed the way people thought about time. Before the railways, every town kept "
        "its own local time, set by the position of the sun at noon, so clocks in two cities a "
        "few hours apart could differ by several minutes. That was fine when travel was slow, but "
        "a railway timetable needs every station to agree. Railway companies began to use one "
        "standard time along their lines, and later whole countries adopted time zones. Today "
        "we take it for granted that the clock on a phone matches the clock at the station. "
        "Modern networks go even further and keep their clocks in step to a tiny fraction of a "
        "second, because signals, payments and power grids all depend on knowing exactly when "
        "something happened. It is strange to think that all of this started with steam engines."
    ),
    (
        "Growing tomatoes on a balcony is a small project that brings a lot of joy. Choose a "
        "sunny corner, because the plants need at least six hours of light every day. A large "
        "pot with good soil and holes in the bottom is enough for one plant, and a wooden stick "
        "will help it stand up as it grows. Water the soil deeply two or three times a week "
        "rather than a little every day, and try to keep the leaves dry. When the first flowers "
        "appear, a gentle shake of the stem helps them turn into fruit. Pick the tomatoes when "
        "they are deep red and slightly soft. They taste far better than anything from the shop, "
        "and the plants look lovely too. Next year you may want to try peppers or fresh herbs."
    ),
)

# One-word (and two-word) answers, each spoken alone between pauses.
SHORT_ANSWERS = (
    "Yes.", "No.", "Okay.", "Correct.", "Thanks.", "Sure.", "Maybe.", "Stop.", "Absolutely.",
    "Never.", "Done.", "Hello.", "Goodbye.", "Exactly.", "Tomorrow.", "Seven.", "Twelve.",
    "Please.", "Next.", "Cancel.", "Right.", "Wait.", "Agreed.", "Perfect.",
)  # fmt: skip

_NUMBER_TEMPLATES = (
    "Set a timer for {a} minutes.",
    "The total comes to {b} dollars.",
    "Meet me at gate {a} at {h}:{m:02d}.",
    "We sold {c} tickets in the first week.",
    "The room number is {b}.",
    "My flight leaves at {h}:{m:02d} from terminal {d}.",
    "The population of the town is about {e} people.",
    "Turn to page {b} and read the first {d} lines.",
    "The temperature dropped to {a} degrees last night.",
    "Order {d} boxes of {a} pens each.",
    "The bridge was built in {y}.",
    "Her new phone number ends in {f}.",
    "The marathon is {a} kilometers long this year.",
    "The budget for the project is {e} dollars.",
)


def number_sentence(rng: random.Random) -> str:
    """One sentence with numbers in it (digits, as Whisper writes them)."""
    template = rng.choice(_NUMBER_TEMPLATES)
    return template.format(
        a=rng.randint(2, 60),
        b=rng.randint(100, 999),
        c=rng.randint(1000, 9000),
        d=rng.randint(2, 9),
        e=rng.randrange(10_000, 90_000, 500),
        f=rng.randint(1000, 9999),
        h=rng.randint(1, 12),
        m=rng.choice((0, 15, 30, 45, 5, 20, 40)),
        y=rng.randint(1850, 1990),
    )


def split_sentences(paragraph: str) -> list[str]:
    """The sentences of ``paragraph`` (split after '.', '?' or '!')."""
    sentences, current = [], []
    for word in paragraph.split():
        current.append(word)
        if word.endswith((".", "?", "!")):
            sentences.append(" ".join(current))
            current = []
    if current:
        sentences.append(" ".join(current))
    return sentences
